// Leaflet 1.9.4 as the phones of a walk need it: the walk page's and the capture screen's maps
// (tiles, the place's outline, pins, popups, a draggable pin, zoom by buttons, pinch, keys).
// Left out: Canvas and VML rendering (SVG draws everything), image/video/SVG overlays,
// tooltips, the layers and scale controls, box and wheel zoom, long-press menus, WMS. Staff pages that edit
// shapes or cluster pins load the whole of Leaflet (static/vendor/leaflet-1.9.4/).
export {version} from 'leaflet/package.json';
export * from 'leaflet/src/core/index';
export * from 'leaflet/src/dom/index';
export * from 'leaflet/src/geometry/index';
export * from 'leaflet/src/geo/index';
import {Control, control} from 'leaflet/src/control/Control';
import {Zoom, zoom} from 'leaflet/src/control/Control.Zoom';
import {Attribution, attribution} from 'leaflet/src/control/Control.Attribution';
Control.Zoom = Zoom;
Control.Attribution = Attribution;
control.zoom = zoom;
control.attribution = attribution;
export {Control, control};
export {Layer} from 'leaflet/src/layer/Layer';
export {LayerGroup, layerGroup} from 'leaflet/src/layer/LayerGroup';
export {FeatureGroup, featureGroup} from 'leaflet/src/layer/FeatureGroup';
export {GeoJSON, geoJSON, geoJson} from 'leaflet/src/layer/GeoJSON';
export {DivOverlay} from 'leaflet/src/layer/DivOverlay';
export {Popup, popup} from 'leaflet/src/layer/Popup';
export * from 'leaflet/src/layer/marker/index';
export {GridLayer, gridLayer} from 'leaflet/src/layer/tile/GridLayer';
export {TileLayer, tileLayer} from 'leaflet/src/layer/tile/TileLayer';
export {Renderer} from 'leaflet/src/layer/vector/Renderer';
export {SVG, svg} from 'leaflet/src/layer/vector/SVG';
export {Path} from 'leaflet/src/layer/vector/Path';
export {Polyline, polyline} from 'leaflet/src/layer/vector/Polyline';
export {Polygon, polygon} from 'leaflet/src/layer/vector/Polygon';
export {CircleMarker, circleMarker} from 'leaflet/src/layer/vector/CircleMarker';
export {Circle, circle} from 'leaflet/src/layer/vector/Circle';
import 'leaflet/src/layer/vector/Renderer.getRenderer';
import {Map} from 'leaflet/src/map/Map';
import {DoubleClickZoom} from 'leaflet/src/map/handler/Map.DoubleClickZoom';
import {Drag} from 'leaflet/src/map/handler/Map.Drag';
import {Keyboard} from 'leaflet/src/map/handler/Map.Keyboard';
import {TouchZoom} from 'leaflet/src/map/handler/Map.TouchZoom';
Map.DoubleClickZoom = DoubleClickZoom;
Map.Drag = Drag;
Map.Keyboard = Keyboard;
Map.TouchZoom = TouchZoom;
export {Map, createMap as map} from 'leaflet/src/map/Map';

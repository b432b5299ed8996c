// Pore Studio's 3D viewer: a Streamlit (components v2) element drawing the payload of
// porelib.app.figures.mesh_scene with WebGL. No library, nothing fetched: the mesh arrives
// with the element's data. A new mesh replaces the old one in the same canvas, so the
// camera (drag to orbit, scroll to zoom, shift-drag to pan) stays where the user left it;
// it is reset only when the box size changes. Each drawn mesh is recorded in
// window.__poreViewer.renders ({key, id, t}) for the app's browser tests and `bench app`.

const VERTEX_SHADER = `
attribute vec3 position;
attribute vec3 normal;
uniform mat4 projection;
uniform mat4 view;
varying vec3 viewNormal;
void main() {
  viewNormal = mat3(view) * normal;
  gl_Position = projection * view * vec4(position, 1.0);
}`;

const FRAGMENT_SHADER = `
precision mediump float;
varying vec3 viewNormal;
uniform vec3 colour;
uniform float shaded;
void main() {
  vec3 n = normalize(viewNormal);
  float diffuse = abs(dot(n, normalize(vec3(0.35, 0.45, 1.0))));
  float light = mix(1.0, 0.3 + 0.7 * diffuse, shaded);
  gl_FragColor = vec4(colour * light, 1.0);
}`;

function decode(text, Kind) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Kind(bytes.buffer);
}

function rgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
}

function perspective(fovy, aspect, near, far) {
  const f = 1 / Math.tan(fovy / 2);
  const m = new Float32Array(16);
  m[0] = f / aspect; m[5] = f; m[10] = (far + near) / (near - far); m[11] = -1;
  m[14] = (2 * far * near) / (near - far);
  return m;
}

function lookAt(eye, target, up) {
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const norm = (a) => { const l = Math.hypot(...a) || 1; return a.map((v) => v / l); };
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const z = norm(sub(eye, target)), x = norm(cross(up, z)), y = cross(z, x);
  return new Float32Array([x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0,
    -dot(x, eye), -dot(y, eye), -dot(z, eye), 1]);
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
  return shader;
}

class Viewer {
  constructor(canvas) {
    this.canvas = canvas;
    const gl = canvas.getContext("webgl2", { antialias: true }) || canvas.getContext("webgl", { antialias: true });
    if (!gl) throw new Error("WebGL is not available in this browser");
    this.gl = gl;
    this.uintIndices = gl instanceof WebGL2RenderingContext || !!gl.getExtension("OES_element_index_uint");
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX_SHADER));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
    gl.linkProgram(program);
    this.program = program;
    this.at = {
      position: gl.getAttribLocation(program, "position"),
      normal: gl.getAttribLocation(program, "normal"),
      projection: gl.getUniformLocation(program, "projection"),
      view: gl.getUniformLocation(program, "view"),
      colour: gl.getUniformLocation(program, "colour"),
      shaded: gl.getUniformLocation(program, "shaded"),
    };
    this.buffers = { position: gl.createBuffer(), normal: gl.createBuffer(), index: gl.createBuffer(), box: gl.createBuffer() };
    this.count = 0;
    this.size = null;
    this.listen();
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  resetCamera(size) {
    const c = (size - 1) / 2;
    this.camera = { target: [c, c, c], yaw: Math.PI / 4, pitch: 0.6, distance: 3.6 * size };  // the whole box in view
  }

  listen() {
    const canvas = this.canvas;
    let last = null;
    canvas.addEventListener("pointerdown", (e) => { last = [e.clientX, e.clientY, e.shiftKey]; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointerup", () => { last = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (!last || !this.camera) return;
      const dx = e.clientX - last[0], dy = e.clientY - last[1];
      last = [e.clientX, e.clientY, last[2]];
      const cam = this.camera;
      if (last[2]) {  // pan in the view plane
        const step = cam.distance / canvas.clientHeight;
        const right = [Math.cos(cam.yaw), 0, -Math.sin(cam.yaw)];
        cam.target = cam.target.map((v, i) => v - right[i] * dx * step);
        cam.target[1] += dy * step;
      } else {
        cam.yaw -= dx * 0.01;
        cam.pitch = Math.max(-1.5, Math.min(1.5, cam.pitch + dy * 0.01));
      }
      this.draw();
    });
    canvas.addEventListener("wheel", (e) => {
      if (!this.camera) return;
      e.preventDefault();
      this.camera.distance *= Math.exp(e.deltaY * 0.001);
      this.draw();
    }, { passive: false });
  }

  setScene(scene) {
    const gl = this.gl;
    if (scene.size !== this.size) { this.resetCamera(scene.size); this.size = scene.size; }
    let faces = decode(scene.faces, Uint32Array);
    if (!this.uintIndices) faces = new Uint16Array(faces);
    this.indexType = this.uintIndices ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.position);
    gl.bufferData(gl.ARRAY_BUFFER, decode(scene.vertices, Float32Array), gl.STATIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.normal);
    gl.bufferData(gl.ARRAY_BUFFER, decode(scene.normals, Float32Array), gl.STATIC_DRAW);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.buffers.index);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, faces, gl.STATIC_DRAW);
    this.count = faces.length;
    const lo = -0.5, hi = scene.size - 0.5, corner = (i) => [i & 1 ? hi : lo, i & 2 ? hi : lo, i & 4 ? hi : lo];
    const edges = [];
    for (let i = 0; i < 8; i++) for (const bit of [1, 2, 4]) if (!(i & bit)) edges.push(...corner(i), ...corner(i | bit));
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.box);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(edges), gl.STATIC_DRAW);
    this.colours = { mesh: rgb(scene.colour), box: rgb(scene.box_colour) };
    this.id = scene.id;
    this.draw();
  }

  draw() {
    if (this.size === null) return;
    const gl = this.gl, canvas = this.canvas, at = this.at, cam = this.camera;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio)), height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    gl.viewport(0, 0, width, height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.useProgram(this.program);
    const eye = [
      cam.target[0] + cam.distance * Math.cos(cam.pitch) * Math.sin(cam.yaw),
      cam.target[1] + cam.distance * Math.sin(cam.pitch),
      cam.target[2] + cam.distance * Math.cos(cam.pitch) * Math.cos(cam.yaw),
    ];
    gl.uniformMatrix4fv(at.projection, false, perspective(0.5, width / height, cam.distance / 100, cam.distance * 4));
    gl.uniformMatrix4fv(at.view, false, lookAt(eye, cam.target, [0, 1, 0]));
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.position);
    gl.enableVertexAttribArray(at.position);
    gl.vertexAttribPointer(at.position, 3, gl.FLOAT, false, 0, 0);
    if (this.count) {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.normal);
      gl.enableVertexAttribArray(at.normal);
      gl.vertexAttribPointer(at.normal, 3, gl.FLOAT, false, 0, 0);
      gl.uniform3fv(at.colour, this.colours.mesh);
      gl.uniform1f(at.shaded, 1);
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.buffers.index);
      gl.drawElements(gl.TRIANGLES, this.count, this.indexType, 0);
    }
    gl.disableVertexAttribArray(at.normal);
    gl.vertexAttrib3f(at.normal, 0, 0, 1);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffers.box);
    gl.vertexAttribPointer(at.position, 3, gl.FLOAT, false, 0, 0);
    gl.uniform3fv(at.colour, this.colours.box);
    gl.uniform1f(at.shaded, 0);
    gl.drawArrays(gl.LINES, 0, 24);
  }
}

export default function (component) {
  const { parentElement, data } = component;
  const canvas = parentElement.querySelector("canvas.pore-view");
  canvas.style.height = `${data.height}px`;
  if (!canvas.viewer) canvas.viewer = new Viewer(canvas);
  const viewer = canvas.viewer;
  if (viewer.id !== data.scene.id) viewer.setScene(data.scene);
  canvas.dataset.sceneId = data.scene.id;
  canvas.dataset.triangles = String(data.scene.triangles);
  window.__poreViewer = window.__poreViewer || { renders: [] };
  window.__poreViewer.renders.push({ key: data.key, id: data.scene.id, t: performance.now() });
}

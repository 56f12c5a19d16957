// wasmfleet - AssemblyScript bindings for the wasmfleet host functions and the bytes ABI.
//
//   import { dht, sys, mqtt, alloc, bytesFn, textFn } from "wasmfleet";
//
// Namespaces mirror the C headers (src/wasmfleet/guest/c: wasmiot.h, wasmfleet.h, wasi_nn.h):
//   sys, camera, dht, communication   the wasmiot host functions
//   mqtt, images, qoa, things         the wasmfleet.* host functions
//   nn                                WASI-NN (wasi_ephemeral_nn)
//   raw                               every import with its exact Wasm signature
// and the bytes ABI: alloc, input, inputText, output, outputText, bytesFn, textFn, reject,
// pack, claim. docs/guest-assemblyscript.md describes them all.
import * as sys from "./sys";
import * as camera from "./camera";
import * as dht from "./dht";
import * as communication from "./communication";
import * as mqtt from "./mqtt";
import * as images from "./images";
import * as qoa from "./qoa";
import * as things from "./things";
import * as nn from "./nn";
import * as raw from "./raw";

export { sys, camera, dht, communication, mqtt, images, qoa, things, nn, raw };
export {
  alloc, claim, input, inputText, output, outputText, pack, reject, bytesFn, textFn,
} from "./bytes";
export { abortToLog } from "./abort";

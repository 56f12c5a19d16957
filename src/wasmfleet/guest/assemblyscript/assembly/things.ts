// things.ts - an app's sensors, controllers and parameters: wasmfleet.thing_read,
// wasmfleet.thing_send and wasmfleet.param (every device), by the app's binding names.
import * as raw from "./raw";

/** The function has no thing (or parameter) by that name. */
export const EUNBOUND: i32 = -1;
/** thing_read of a controller, or thing_send to a sensor. */
export const EKIND: i32 = -2;
/** No reading yet (nothing on its topic, no driver). */
export const ENOREADING: i32 = -3;
/** The command (or reading) does not fit the thing. */
export const EINVALID: i32 = -4;
/** Too many messages wait to be sent; retry later. */
export const EBUSY: i32 = -5;
/** The broker is unreachable right now. */
export const EDISCONNECTED: i32 = -6;
/** A controller on a topic, on a device without a broker. */
export const ENOBROKER: i32 = -7;

/** JSON text from the host, or the negative code it answered instead. */
export class Json {
  constructor(public code: i32, public text: string) {}

  /** True when the host answered the text (code 0). */
  get ok(): bool {
    return this.code == 0;
  }
}

const READ: i32 = 0;
const PARAM: i32 = 1;

function fetchJson(which: i32, name: string): Json {
  const n = String.UTF8.encode(name);
  let capacity: i32 = 512;
  for (let attempt = 0; attempt < 2; attempt++) {
    const buffer = new ArrayBuffer(capacity);
    const at = changetype<usize>(buffer);
    const got = which == READ
      ? raw.wasmfleet_thing_read(changetype<usize>(n), <u32>n.byteLength, at, <u32>capacity)
      : raw.wasmfleet_param(changetype<usize>(n), <u32>n.byteLength, at, <u32>capacity);
    if (got < 0) return new Json(got, "");
    if (got <= capacity) return new Json(0, String.UTF8.decodeUnsafe(at, <usize>got));
    capacity = got; // cut short: the full length is known now, ask once more
  }
  return new Json(EINVALID, "");
}

/** The latest reading of the sensor the app binds as `name`, as a JSON object of its declared
 * outputs (e.g. {"celsius":21.5}); code ENOREADING when there is none yet. */
export function read(name: string): Json {
  return fetchJson(READ, name);
}

/** The app install's parameter `name` as JSON text (26, 0.5, true, "eco"); code EUNBOUND when
 * there is no such parameter. */
export function param(name: string): Json {
  return fetchJson(PARAM, name);
}

/** Sends a command (a JSON object such as {"speed":2}) to the controller the app binds as
 * `name`; 0 when it was handed on, else a negative code above. */
export function send(name: string, json: string): i32 {
  const n = String.UTF8.encode(name);
  const d = String.UTF8.encode(json);
  return raw.wasmfleet_thing_send(
    changetype<usize>(n), <u32>n.byteLength, changetype<usize>(d), <u32>d.byteLength,
  );
}

// dht.ts - the wasmiot `dht` sensor (offered by devices with a DHT sensor, real or simulated).
import * as raw from "./raw";

/** The temperature in degrees Celsius. */
export function temperature(): f32 {
  return raw.getTemperature();
}

/** The relative humidity in percent. */
export function humidity(): f32 {
  return raw.getHumidity();
}

// mqtt.ts - wasmfleet.publish and wasmfleet.message_topic (devices with --broker offer them).
import * as raw from "./raw";

/** Handed to the device's MQTT connection. */
export const OK: i32 = 0;
/** This device has no MQTT broker configured. */
export const ENOBROKER: i32 = -1;
/** The topic is empty, not UTF-8, over 65535 bytes, or has + # or NUL. */
export const ETOPIC: i32 = -2;
/** qos is not 0, 1 or 2. */
export const EQOS: i32 = -3;
/** The payload is over MQTT's 268435455 bytes. */
export const ETOOBIG: i32 = -4;
/** Too many messages wait to be sent; retry later. */
export const EBUSY: i32 = -5;
/** The broker is unreachable and qos is 0 (qos 1 and 2 wait for it). */
export const EDISCONNECTED: i32 = -6;

/** Publishes data to topic (a name, no wildcards); OK or a negative code above. In a
 * triggered call, the triggering message is acknowledged only after the broker has it. */
export function publish(topic: string, data: Uint8Array, qos: i32 = 0): i32 {
  const t = String.UTF8.encode(topic);
  return raw.wasmfleet_publish(
    changetype<usize>(t), <u32>t.byteLength, data.dataStart, <u32>data.length, qos,
  );
}

/** publish() of text as UTF-8. */
export function publishText(topic: string, text: string, qos: i32 = 0): i32 {
  return publish(topic, Uint8Array.wrap(String.UTF8.encode(text)), qos);
}

/** The topic of the message that triggered the current call; null outside a triggered call. */
export function messageTopic(): string | null {
  let capacity: i32 = 256;
  for (let attempt = 0; attempt < 2; attempt++) {
    const buffer = new ArrayBuffer(capacity);
    const n = raw.wasmfleet_message_topic(changetype<usize>(buffer), <u32>capacity);
    if (n < 0) return null;
    if (n <= capacity) return String.UTF8.decodeUnsafe(changetype<usize>(buffer), <usize>n);
    capacity = n; // cut short: the full length is known now, ask once more
  }
  return null;
}

// hot: takes a reading such as "31.5", publishes an alert when it is over 30 °C, copies it to
// the audit topic, and rejects anything that is not a number (docs/module-authors.md,
// "Worked example: hot readings", in AssemblyScript).
import { alloc, mqtt, reject, textFn } from "wasmfleet";

// The host copies each message's payload into a buffer from alloc(): export it.
export { alloc };

const LIMIT: f64 = 30.0;
const AUDIT = "audit/hot";

// @wasmfleet module hot 1.0.0

// @wasmfleet function hot
// @wasmfleet summary An alert when a reading is over 30 °C.
// @wasmfleet param reading bytes text/plain
// @wasmfleet returns bytes application/json
export function hot(ptr: i32, len: i32): i64 {
  return textFn(ptr, len, alert);
}

function alert(reading: string): string | null {
  if (reading.length == 0 || reading.length >= 32 || !isNumber(reading)) {
    reject(-1); // not a reading: the message goes to the dead-letter topic
    return null;
  }
  const celsius = parseFloat(reading.trim());
  if (celsius <= LIMIT) return null; // no output: nothing is published
  const topic = mqtt.messageTopic(); // null when called over HTTP, not by a message
  const json =
    '{"topic":"' + jsonEscape(topic === null ? "" : topic) + '","celsius":' +
    formatNumber(celsius) + "}";
  mqtt.publishText(AUDIT, json, 1);
  return json;
}

/** A decimal number, as C's strtod takes it whole: sign, digits, point, exponent. */
function isNumber(text: string): bool {
  const s = text.trim();
  let i = 0;
  if (i < s.length && (s.charCodeAt(i) == 43 || s.charCodeAt(i) == 45)) i++; // + -
  let digits = 0;
  while (i < s.length && isDigit(s.charCodeAt(i))) { i++; digits++; }
  if (i < s.length && s.charCodeAt(i) == 46) { // .
    i++;
    while (i < s.length && isDigit(s.charCodeAt(i))) { i++; digits++; }
  }
  if (digits == 0) return false;
  if (i < s.length && (s.charCodeAt(i) == 101 || s.charCodeAt(i) == 69)) { // e E
    i++;
    if (i < s.length && (s.charCodeAt(i) == 43 || s.charCodeAt(i) == 45)) i++;
    let exponent = 0;
    while (i < s.length && isDigit(s.charCodeAt(i))) { i++; exponent++; }
    if (exponent == 0) return false;
  }
  return i == s.length;
}

function isDigit(c: i32): bool {
  return c >= 48 && c <= 57;
}

/** Like C's %g for these readings: 31.5 stays "31.5", 40.0 is "40". */
function formatNumber(x: f64): string {
  if (x == Math.floor(x) && Math.abs(x) < 1e15) return (<i64>x).toString();
  return x.toString();
}

function jsonEscape(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
}

//! hot: takes a reading such as `31.5`, publishes an alert when it is over 30 °C, copies it
//! to an audit topic, and rejects anything that is not a number (docs/module-authors.md,
//! "Worked example: hot readings"). Triggered by MQTT messages (the bytes ABI).

use wasmfleet::mqtt;

/// Readings above this many degrees Celsius give an alert.
const LIMIT: f64 = 30.0;
/// Where every alert is also published, from Wasm.
const AUDIT_TOPIC: &str = "audit/hot";

// alloc(i32 len) -> i32: the host copies each message into a buffer from it.
wasmfleet::export_alloc!();

// @wasmfleet function hot
// @wasmfleet summary An alert (JSON) when a reading is over 30 °C; anything but a number is rejected.
// @wasmfleet param reading bytes text/plain
// @wasmfleet returns bytes application/json
wasmfleet::bytes_fn!(hot);

/// A reading like "31.5" in; {"topic", "celsius"} out when it is over the limit, nothing
/// when it is not, and a rejection (the message is dead-lettered) when it is no number.
fn hot(reading: &[u8]) -> Result<Option<String>, i32> {
    let celsius = parse(reading).ok_or(-1)?;
    if celsius <= LIMIT {
        return Ok(None); // no output: nothing is published
    }
    let topic = mqtt::message_topic().unwrap_or_default(); // empty when not triggered
    let alert = format!(
        "{{\"topic\":\"{}\",\"celsius\":{}}}",
        escaped(&topic),
        celsius
    );
    let _ = mqtt::publish(AUDIT_TOPIC, alert.as_bytes(), 1); // best effort, as in C
    Ok(Some(alert))
}

/// The number a reading holds: at most 31 bytes, leading spaces allowed, nothing after.
fn parse(reading: &[u8]) -> Option<f64> {
    if reading.is_empty() || reading.len() >= 32 {
        return None;
    }
    let text = std::str::from_utf8(reading).ok()?.trim_start();
    let value: f64 = text.parse().ok()?;
    if value.is_finite() {
        Some(value)
    } else {
        None
    }
}

/// `text` inside a JSON string: quotes, backslashes and control characters escaped.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

//! `wasmfleet.publish` and `wasmfleet.message_topic`: MQTT from Wasm.
//!
//! Offered only by devices whose supervisor has a broker (`--broker`); a module calling
//! them deploys only there.

use std::fmt;

use crate::raw;

/// Why [`publish`] did not hand a message to the device's MQTT connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishError {
    /// -1: this device has no MQTT broker configured.
    NoBroker,
    /// -2: the topic is empty, not UTF-8, over 65535 bytes, or has `+`, `#` or NUL.
    Topic,
    /// -3: QoS is not 0, 1 or 2.
    Qos,
    /// -4: the payload is over MQTT's 268435455 bytes.
    TooBig,
    /// -5: too many messages are waiting to be sent; try again later.
    Busy,
    /// -6: the broker is unreachable and QoS is 0 (QoS 1 and 2 wait for it).
    Disconnected,
    /// A code this version of the crate does not know.
    Other(i32),
}

impl PublishError {
    /// The error for a negative result of `wasmfleet.publish`.
    pub fn from_code(code: i32) -> Self {
        match code {
            -1 => PublishError::NoBroker,
            -2 => PublishError::Topic,
            -3 => PublishError::Qos,
            -4 => PublishError::TooBig,
            -5 => PublishError::Busy,
            -6 => PublishError::Disconnected,
            other => PublishError::Other(other),
        }
    }

    /// The host's code (`WASMFLEET_E*` in wasmfleet.h).
    pub fn code(self) -> i32 {
        match self {
            PublishError::NoBroker => -1,
            PublishError::Topic => -2,
            PublishError::Qos => -3,
            PublishError::TooBig => -4,
            PublishError::Busy => -5,
            PublishError::Disconnected => -6,
            PublishError::Other(code) => code,
        }
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            PublishError::NoBroker => "this device has no MQTT broker",
            PublishError::Topic => "the topic is empty, too long, or has + # or NUL",
            PublishError::Qos => "QoS must be 0, 1 or 2",
            PublishError::TooBig => "the payload is over MQTT's 268435455 bytes",
            PublishError::Busy => "too many messages are waiting to be sent",
            PublishError::Disconnected => "the broker is unreachable",
            PublishError::Other(_) => "unknown error",
        };
        write!(f, "{} (code {})", text, self.code())
    }
}

/// Publishes `data` to `topic` (a name, no wildcards) with `qos` 0, 1 or 2. Within a
/// triggered call, the triggering message is acknowledged only after the broker has it.
pub fn publish(topic: &str, data: &[u8], qos: u8) -> Result<(), PublishError> {
    let code = unsafe {
        raw::publish(
            topic.as_ptr(),
            topic.len() as u32,
            data.as_ptr(),
            data.len() as u32,
            qos as i32,
        )
    };
    if code == 0 {
        Ok(())
    } else {
        Err(PublishError::from_code(code))
    }
}

/// The topic of the message that triggered the current call; `None` outside a triggered
/// call.
pub fn message_topic() -> Option<String> {
    let topic = crate::read_text(128, |buffer| unsafe {
        raw::message_topic(buffer.as_mut_ptr(), buffer.len() as u32)
    })
    .ok()?;
    Some(String::from_utf8_lossy(&topic).into_owned())
}

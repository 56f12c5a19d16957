//! `wasmfleet.thing_read`, `thing_send` and `param`: an app's sensors, controllers and
//! parameters, by the app's binding names (`room_temp`, `room_fan`, `threshold`).

use std::fmt;

use crate::raw;

/// Why a thing or a parameter could not be read or a command not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThingError {
    /// -1: the function has no thing (or parameter) by that name.
    Unbound,
    /// -2: a read of a controller, or a command to a sensor.
    Kind,
    /// -3: no reading yet.
    NoReading,
    /// -4: the command (or reading) does not fit the thing.
    Invalid,
    /// -5: too many messages are waiting to be sent; try again later.
    Busy,
    /// -6: the broker is unreachable right now.
    Disconnected,
    /// -7: a topic controller on a device without a broker.
    NoBroker,
    /// A code this version of the crate does not know.
    Other(i32),
}

impl ThingError {
    /// The error for a negative result of the host function.
    pub fn from_code(code: i32) -> Self {
        match code {
            -1 => ThingError::Unbound,
            -2 => ThingError::Kind,
            -3 => ThingError::NoReading,
            -4 => ThingError::Invalid,
            -5 => ThingError::Busy,
            -6 => ThingError::Disconnected,
            -7 => ThingError::NoBroker,
            other => ThingError::Other(other),
        }
    }

    /// The host's code (`WASMFLEET_THING_E*` in wasmfleet.h).
    pub fn code(self) -> i32 {
        match self {
            ThingError::Unbound => -1,
            ThingError::Kind => -2,
            ThingError::NoReading => -3,
            ThingError::Invalid => -4,
            ThingError::Busy => -5,
            ThingError::Disconnected => -6,
            ThingError::NoBroker => -7,
            ThingError::Other(code) => code,
        }
    }
}

impl fmt::Display for ThingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ThingError::Unbound => "no thing or parameter by that name",
            ThingError::Kind => "wrong kind of thing (read a controller or command a sensor)",
            ThingError::NoReading => "no reading yet",
            ThingError::Invalid => "the command or reading does not fit the thing",
            ThingError::Busy => "too many messages are waiting to be sent",
            ThingError::Disconnected => "the broker is unreachable",
            ThingError::NoBroker => "this device has no broker",
            ThingError::Other(_) => "unknown error",
        };
        write!(f, "{} (code {})", text, self.code())
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The latest reading of the sensor bound as `name`: a JSON object of its outputs
/// (`{"celsius":21.5}`).
pub fn read(name: &str) -> Result<String, ThingError> {
    crate::read_text(256, |buffer| unsafe {
        raw::thing_read(
            name.as_ptr(),
            name.len() as u32,
            buffer.as_mut_ptr(),
            buffer.len() as u32,
        )
    })
    .map(text)
    .map_err(ThingError::from_code)
}

/// Sends `command`, a JSON object (`{"speed":2}`), to the controller bound as `name`.
pub fn send(name: &str, command: &str) -> Result<(), ThingError> {
    let code = unsafe {
        raw::thing_send(
            name.as_ptr(),
            name.len() as u32,
            command.as_ptr(),
            command.len() as u32,
        )
    };
    if code == 0 {
        Ok(())
    } else {
        Err(ThingError::from_code(code))
    }
}

/// The app install's parameter `name` as JSON text (`26`, `0.5`, `true`, `"eco"`).
pub fn param(name: &str) -> Result<String, ThingError> {
    crate::read_text(64, |buffer| unsafe {
        raw::param(
            name.as_ptr(),
            name.len() as u32,
            buffer.as_mut_ptr(),
            buffer.len() as u32,
        )
    })
    .map(text)
    .map_err(ThingError::from_code)
}

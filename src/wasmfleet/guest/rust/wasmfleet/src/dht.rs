//! The wasmiot `dht` functions: a temperature and humidity sensor.
//!
//! Devices without such a sensor do not offer them (a simulated one reads
//! `WASMFLEET_DHT_TEMPERATURE` and `WASMFLEET_DHT_HUMIDITY`).

use crate::raw;

/// The temperature in degrees Celsius.
pub fn temperature() -> f32 {
    unsafe { raw::get_temperature() }
}

/// The relative humidity in percent.
pub fn humidity() -> f32 {
    unsafe { raw::get_humidity() }
}

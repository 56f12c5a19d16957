//! alarm: checks the DHT sensor against a limit passed by the caller, and remembers the
//! highest reading (docs/module-authors.md, "Worked example: a temperature alarm").

use std::cell::Cell;

thread_local! {
    // Module state: kept between calls (the supervisor keeps the instance).
    static HIGHEST: Cell<f32> = Cell::new(-1000.0);
}

// @wasmfleet function check
// @wasmfleet summary 1 when the temperature is above the limit.
// @wasmfleet param limit f32
// @wasmfleet returns i32
#[no_mangle]
pub extern "C" fn check(limit: f32) -> i32 {
    let now = wasmfleet::dht::temperature();
    HIGHEST.with(|highest| {
        if now > highest.get() {
            highest.set(now);
        }
    });
    (now > limit) as i32
}

// @wasmfleet function highest
// @wasmfleet summary The highest temperature seen so far.
// @wasmfleet returns f32
#[no_mangle]
pub extern "C" fn highest() -> f32 {
    HIGHEST.with(|highest| highest.get())
}

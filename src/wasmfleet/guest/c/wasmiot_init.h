/*
 * wasmiot_init.h - run a reactor's C constructors on hosts that never call _initialize.
 *
 * A module built with -mexec-model=reactor exports _initialize, which runs its C
 * constructors; wasi-libc finds the module's preopened directory (where its mounts are)
 * in one of them. wasmfleet supervisors call _initialize once after instantiation, the
 * original wasmiot supervisor never does: there fopen() fails. A module that uses files
 * calls wasmiot_init() before its first fopen(); it runs the constructors unless
 * _initialize already did, so the module works on both.
 */
#ifndef WASMIOT_INIT_H
#define WASMIOT_INIT_H

void __wasm_call_ctors(void);

/* volatile: else the compiler runs the marker at build time (GlobalOpt) and drops the check */
static volatile int wasmiot_constructed;

__attribute__((constructor)) static void wasmiot_mark_constructed(void) {
    wasmiot_constructed = 1;
}

/* Runs the module's C constructors once, unless the host already did (_initialize). */
static inline void wasmiot_init(void) {
    if (!wasmiot_constructed) {
        __wasm_call_ctors();
    }
}

#endif /* WASMIOT_INIT_H */

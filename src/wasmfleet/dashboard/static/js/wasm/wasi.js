// WASI preview1 basics for a module running in the browser: an in-memory directory
// preopened as "." (where the supervisor preopens the module's own directory, so mounts are
// files in it), stdout/stderr as lines, clocks, random, argv = [module], no environment,
// proc_exit. Functions not provided here answer ENOSYS, as a WASI host without them would.

export const ERRNO = { SUCCESS: 0, BADF: 8, EXIST: 20, INVAL: 28, ISDIR: 31, NOENT: 44, NOSYS: 52, NOTDIR: 54, SPIPE: 70, NOTCAPABLE: 76 };
const FILETYPE = { CHAR: 2, DIR: 3, FILE: 4 };
const OFLAGS = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 };
const APPEND = 1;
const ALL_RIGHTS = 0xffffffffffffffffn;
const MAX_FILE = 256 * 1024 * 1024;
const MAX_FDS = 1024;
const LINE_LIMIT = 4096;

/** The guest called proc_exit: the call ends with "exited instead of returning". */
export class ProcExit extends Error {
  constructor(code) {
    super(`exit status ${code}`);
    this.name = "ProcExit";
    this.code = code;
  }
}

/** A flat in-memory directory: file name -> Uint8Array (the module's own directory). */
export class MemFS {
  constructor() {
    this.files = new Map();
    this.mtimes = new Map();
    this.clock = 0;
  }
  write(name, bytes) {
    this.files.set(name, bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    this.mtimes.set(name, ++this.clock);
  }
  read(name) {
    return this.files.get(name) ?? null;
  }
  remove(name) {
    this.files.delete(name);
    this.mtimes.delete(name);
  }
  snapshot() {
    return new Map(this.mtimes);
  }
}

function normalise(path) {
  const parts = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") return null; // never outside the sandbox
    parts.push(part);
  }
  return parts.join("/");
}

/** Builds the wasi_snapshot_preview1 import object over `fs`; `memory()` gives the instance's memory. */
export function createWasi({ fs, argv, onOutput, memory }) {
  const fds = new Map(); // fd -> {kind: "stdio"|"dir"|"file", name, pos, append}
  fds.set(0, { kind: "stdio" });
  fds.set(1, { kind: "stdio", stream: "stdout", partial: "" });
  fds.set(2, { kind: "stdio", stream: "stderr", partial: "" });
  fds.set(3, { kind: "dir", name: "." });
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const argBytes = argv.map((a) => encoder.encode(a + "\0"));
  const view = () => new DataView(memory().buffer);
  const bytes = () => new Uint8Array(memory().buffer);
  const str = (ptr, len) => decoder.decode(bytes().slice(ptr, ptr + len));

  function nextFd() {
    for (let fd = 4; fd < MAX_FDS; fd++) if (!fds.has(fd)) return fd;
    return -1;
  }

  function emit(entry, text) {
    const buffer = entry.partial + text;
    const lines = buffer.split("\n");
    entry.partial = lines.pop();
    if (entry.partial.length > LINE_LIMIT) {
      lines.push(entry.partial);
      entry.partial = "";
    }
    for (const line of lines) onOutput(entry.stream, line.slice(0, LINE_LIMIT));
  }

  function flush() {
    for (const fd of [1, 2]) {
      const entry = fds.get(fd);
      if (entry.partial) {
        onOutput(entry.stream, entry.partial);
        entry.partial = "";
      }
    }
  }

  function iovecs(iovs, count) {
    const v = view();
    const out = [];
    for (let i = 0; i < count; i++) out.push([v.getUint32(iovs + i * 8, true), v.getUint32(iovs + i * 8 + 4, true)]);
    return out;
  }

  function writeFilestat(ptr, type, size, mtime) {
    const v = view();
    for (let i = 0; i < 64; i += 8) v.setBigUint64(ptr + i, 0n, true);
    v.setUint8(ptr + 16, type);
    v.setBigUint64(ptr + 24, 1n, true);
    v.setBigUint64(ptr + 32, BigInt(size), true);
    const t = BigInt(mtime) * 1000000n;
    v.setBigUint64(ptr + 40, t, true);
    v.setBigUint64(ptr + 48, t, true);
    v.setBigUint64(ptr + 56, t, true);
  }

  const wasi = {
    args_sizes_get(argcPtr, sizePtr) {
      const v = view();
      v.setUint32(argcPtr, argBytes.length, true);
      v.setUint32(sizePtr, argBytes.reduce((n, a) => n + a.length, 0), true);
      return ERRNO.SUCCESS;
    },
    args_get(argvPtr, bufPtr) {
      const v = view();
      let at = bufPtr;
      argBytes.forEach((a, i) => {
        v.setUint32(argvPtr + i * 4, at, true);
        bytes().set(a, at);
        at += a.length;
      });
      return ERRNO.SUCCESS;
    },
    environ_sizes_get(countPtr, sizePtr) {
      const v = view();
      v.setUint32(countPtr, 0, true);
      v.setUint32(sizePtr, 0, true);
      return ERRNO.SUCCESS;
    },
    environ_get() {
      return ERRNO.SUCCESS;
    },
    clock_res_get(id, resPtr) {
      view().setBigUint64(resPtr, id === 0 ? 1000000n : 1000n, true);
      return ERRNO.SUCCESS;
    },
    clock_time_get(id, _precision, timePtr) {
      const ns = id === 0
        ? BigInt(Date.now()) * 1000000n
        : BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
      view().setBigUint64(timePtr, ns, true);
      return ERRNO.SUCCESS;
    },
    random_get(ptr, len) {
      for (let done = 0; done < len; done += 65536) {
        const chunk = new Uint8Array(Math.min(65536, len - done));
        crypto.getRandomValues(chunk);
        bytes().set(chunk, ptr + done);
      }
      return ERRNO.SUCCESS;
    },
    fd_prestat_get(fd, ptr) {
      if (fd !== 3) return ERRNO.BADF;
      const v = view();
      v.setUint8(ptr, 0);
      v.setUint32(ptr + 4, 1, true);
      return ERRNO.SUCCESS;
    },
    fd_prestat_dir_name(fd, ptr, len) {
      if (fd !== 3) return ERRNO.BADF;
      bytes().set(encoder.encode(".").slice(0, len), ptr);
      return ERRNO.SUCCESS;
    },
    fd_fdstat_get(fd, ptr) {
      const entry = fds.get(fd);
      if (!entry) return ERRNO.BADF;
      const v = view();
      v.setUint8(ptr, entry.kind === "stdio" ? FILETYPE.CHAR : entry.kind === "dir" ? FILETYPE.DIR : FILETYPE.FILE);
      v.setUint16(ptr + 2, entry.append ? APPEND : 0, true);
      v.setBigUint64(ptr + 8, ALL_RIGHTS, true);
      v.setBigUint64(ptr + 16, ALL_RIGHTS, true);
      return ERRNO.SUCCESS;
    },
    fd_fdstat_set_flags(fd, flags) {
      const entry = fds.get(fd);
      if (!entry) return ERRNO.BADF;
      entry.append = (flags & APPEND) !== 0;
      return ERRNO.SUCCESS;
    },
    fd_filestat_get(fd, ptr) {
      const entry = fds.get(fd);
      if (!entry) return ERRNO.BADF;
      if (entry.kind !== "file") {
        writeFilestat(ptr, entry.kind === "dir" ? FILETYPE.DIR : FILETYPE.CHAR, 0, 0);
      } else {
        writeFilestat(ptr, FILETYPE.FILE, (fs.read(entry.name) ?? new Uint8Array()).length, fs.mtimes.get(entry.name) ?? 0);
      }
      return ERRNO.SUCCESS;
    },
    path_filestat_get(fd, _flags, pathPtr, pathLen, ptr) {
      if (fds.get(fd)?.kind !== "dir") return ERRNO.BADF;
      const name = normalise(str(pathPtr, pathLen));
      if (name === null) return ERRNO.NOTCAPABLE;
      if (name === "") {
        writeFilestat(ptr, FILETYPE.DIR, 0, 0);
        return ERRNO.SUCCESS;
      }
      const data = fs.read(name);
      if (!data) return ERRNO.NOENT;
      writeFilestat(ptr, FILETYPE.FILE, data.length, fs.mtimes.get(name));
      return ERRNO.SUCCESS;
    },
    path_open(fd, _dirflags, pathPtr, pathLen, oflags, _rights, _inheriting, fdflags, fdPtr) {
      if (fds.get(fd)?.kind !== "dir") return ERRNO.BADF;
      const name = normalise(str(pathPtr, pathLen));
      if (name === null) return ERRNO.NOTCAPABLE;
      if (name === "") {
        if (oflags & OFLAGS.CREAT) return ERRNO.ISDIR;
      } else if (oflags & OFLAGS.DIRECTORY) {
        return fs.read(name) ? ERRNO.NOTDIR : ERRNO.NOENT;
      }
      const exists = name === "" || fs.read(name) !== null;
      if (exists && oflags & OFLAGS.CREAT && oflags & OFLAGS.EXCL) return ERRNO.EXIST;
      if (!exists && !(oflags & OFLAGS.CREAT)) return ERRNO.NOENT;
      const newFd = nextFd();
      if (newFd < 0) return ERRNO.INVAL;
      if (name === "") {
        fds.set(newFd, { kind: "dir", name: "." });
      } else {
        if (!exists || oflags & OFLAGS.TRUNC) fs.write(name, new Uint8Array(0));
        fds.set(newFd, { kind: "file", name, pos: 0, append: (fdflags & APPEND) !== 0 });
      }
      view().setUint32(fdPtr, newFd, true);
      return ERRNO.SUCCESS;
    },
    path_unlink_file(fd, pathPtr, pathLen) {
      if (fds.get(fd)?.kind !== "dir") return ERRNO.BADF;
      const name = normalise(str(pathPtr, pathLen));
      if (name === null) return ERRNO.NOTCAPABLE;
      if (!fs.read(name)) return ERRNO.NOENT;
      fs.remove(name);
      return ERRNO.SUCCESS;
    },
    path_remove_directory() {
      return ERRNO.NOENT; // the directory is flat: there are no subdirectories to remove
    },
    fd_close(fd) {
      if (!fds.has(fd) || fd <= 3) return fds.has(fd) ? ERRNO.SUCCESS : ERRNO.BADF;
      fds.delete(fd);
      return ERRNO.SUCCESS;
    },
    fd_seek(fd, offset, whence, resultPtr) {
      const entry = fds.get(fd);
      if (!entry) return ERRNO.BADF;
      if (entry.kind !== "file") return ERRNO.SPIPE;
      const size = (fs.read(entry.name) ?? new Uint8Array()).length;
      const base = whence === 0 ? 0 : whence === 1 ? entry.pos : whence === 2 ? size : null;
      if (base === null) return ERRNO.INVAL;
      const target = base + Number(offset);
      if (target < 0) return ERRNO.INVAL;
      entry.pos = target;
      view().setBigUint64(resultPtr, BigInt(target), true);
      return ERRNO.SUCCESS;
    },
    fd_tell(fd, resultPtr) {
      const entry = fds.get(fd);
      if (!entry) return ERRNO.BADF;
      if (entry.kind !== "file") return ERRNO.SPIPE;
      view().setBigUint64(resultPtr, BigInt(entry.pos), true);
      return ERRNO.SUCCESS;
    },
    fd_read(fd, iovs, count, nreadPtr) {
      const entry = fds.get(fd);
      if (!entry) return ERRNO.BADF;
      let total = 0;
      if (entry.kind === "file") {
        const data = fs.read(entry.name) ?? new Uint8Array();
        for (const [ptr, len] of iovecs(iovs, count)) {
          const chunk = data.subarray(entry.pos, Math.min(data.length, entry.pos + len));
          bytes().set(chunk, ptr);
          entry.pos += chunk.length;
          total += chunk.length;
          if (chunk.length < len) break;
        }
      } else if (entry.kind === "dir") {
        return ERRNO.ISDIR;
      }
      view().setUint32(nreadPtr, total, true);
      return ERRNO.SUCCESS;
    },
    fd_write(fd, iovs, count, nwrittenPtr) {
      const entry = fds.get(fd);
      if (!entry) return ERRNO.BADF;
      let total = 0;
      const mem = bytes();
      if (entry.kind === "stdio") {
        if (!entry.stream) return ERRNO.BADF;
        for (const [ptr, len] of iovecs(iovs, count)) {
          emit(entry, decoder.decode(mem.slice(ptr, ptr + len), { stream: true }));
          total += len;
        }
      } else if (entry.kind === "file") {
        let data = fs.read(entry.name) ?? new Uint8Array();
        for (const [ptr, len] of iovecs(iovs, count)) {
          const at = entry.append ? data.length : entry.pos;
          const end = at + len;
          if (end > MAX_FILE) return ERRNO.INVAL;
          if (end > data.length) {
            const grown = new Uint8Array(end);
            grown.set(data);
            data = grown;
          }
          data.set(mem.subarray(ptr, ptr + len), at);
          entry.pos = end;
          total += len;
        }
        fs.write(entry.name, data);
      } else {
        return ERRNO.ISDIR;
      }
      view().setUint32(nwrittenPtr, total, true);
      return ERRNO.SUCCESS;
    },
    fd_sync() {
      return ERRNO.SUCCESS;
    },
    fd_datasync() {
      return ERRNO.SUCCESS;
    },
    sched_yield() {
      return ERRNO.SUCCESS;
    },
    proc_exit(code) {
      flush();
      throw new ProcExit(code);
    },
  };
  return { imports: wasi, flush };
}

/** Every WASI preview1 function is offered: the ones above, the others answer ENOSYS. */
export function wasiImport(provided, name) {
  return provided[name] ?? (() => ERRNO.NOSYS);
}

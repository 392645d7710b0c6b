// The few libc calls the Linux TUN device needs, bound once through koffi, with the constants of
// the kernel's generic ABI. Shared by the main thread (open, ioctl, write, close) and the reader
// worker (poll, read). Each call returns what libc returns; errno() reads the calling thread's errno.

import koffi, { type LibraryHandle } from "koffi";

/**
 * Architectures whose open() flags and ioctl numbers follow asm-generic (the values below). MIPS,
 * PowerPC, SPARC and Alpha encode them differently and are refused rather than misconfigured.
 */
export const GENERIC_ABI_ARCHES: readonly string[] = [
  "x64",
  "arm64",
  "arm",
  "ia32",
  "riscv64",
  "loong64",
  "s390x",
];

export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = O_NONBLOCK;
export const EFD_CLOEXEC = O_CLOEXEC;

/** _IOW('T', 202, int): attach this fd to a new or existing TUN/TAP interface. */
export const TUNSETIFF = 0x400454ca;
export const IFF_TUN = 0x0001;
/** No 4-byte packet-information header: reads and writes are bare IP packets. */
export const IFF_NO_PI = 0x1000;
/** Every read and write carries a struct virtio_net_hdr first (vnet.ts): how super-packets travel. */
export const IFF_VNET_HDR = 0x4000;
/** _IOW('T', 208, unsigned int): the offloads (TUN_F_*) this reader accepts; the argument by value. */
export const TUNSETOFFLOAD = 0x400454d0;
/** _IOW('T', 216, int): the size of the vnet header, through a pointer to an int. */
export const TUNSETVNETHDRSZ = 0x400454d8;
/** The reader completes partial checksums (needed by every other offload). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
/** UDP segmentation offload, Linux 6.2+. */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
/** sizeof(struct ifreq) on 64-bit Linux; 32 bytes would do on 32-bit, and more is harmless. */
export const IFREQ_BYTES = 40;
/** IFNAMSIZ: the name field of struct ifreq, including its terminating NUL. */
export const IFNAMSIZ = 16;
/** Offset of ifr_flags (a short) in struct ifreq, right after the name. */
export const IFREQ_FLAGS_OFFSET = 16;

/** ioctl on any socket: set an interface's transmit queue length (struct ifreq's ifr_qlen). */
export const SIOCSIFTXQLEN = 0x8943;
export const SIOCGIFTXQLEN = 0x8942;
/** Offset of ifr_qlen (an int) in struct ifreq. */
export const IFREQ_QLEN_OFFSET = 16;
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = O_CLOEXEC;

export const POLLIN = 0x001;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;
/** sizeof(struct pollfd): int fd; short events; short revents. */
export const POLLFD_BYTES = 8;

export const errnos = koffi.os.errno as Readonly<Record<string, number>>;
export const EAGAIN = errnos.EAGAIN ?? 11;
export const EINTR = errnos.EINTR ?? 4;

/** The name of an errno value ("EPERM"), or its number when unknown. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(errnos)) {
    if (value === errno) return name;
  }
  return `errno ${errno}`;
}

export interface Libc {
  open(path: string, flags: number): number;
  /** ioctl(fd, request, pointer): struct-taking requests only. */
  ioctlPtr(fd: number, request: number, arg: Uint8Array): number;
  /** ioctl(fd, request, value): requests taking an integer by value (TUNSETOFFLOAD). */
  ioctlValue(fd: number, request: number, value: number): number;
  read(fd: number, buffer: Uint8Array, length: number): number;
  write(fd: number, buffer: Uint8Array, length: number): number;
  close(fd: number): number;
  /** poll over `count` pollfd structs laid out in `fds`. */
  poll(fds: Uint8Array, count: number, timeoutMs: number): number;
  eventfd(initial: number, flags: number): number;
  socket(domain: number, type: number, protocol: number): number;
  /** setsockopt with an int value. */
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  /** The calling thread's errno after the last call. */
  errno(): number;
}

let bound: Libc | undefined;

/** Binds the calls on first use (per thread: each worker has its own module instance). */
export function libc(): Libc {
  if (bound) return bound;
  const lib = loadLibc();
  const open = lib.func("int open(const char *path, int flags)");
  const ioctl = lib.func("int ioctl(int fd, unsigned long request, ...)");
  const read = lib.func("intptr_t read(int fd, void *buf, size_t count)");
  const write = lib.func("intptr_t write(int fd, const void *buf, size_t count)");
  const close = lib.func("int close(int fd)");
  const poll = lib.func("int poll(void *fds, unsigned long nfds, int timeout)");
  const eventfd = lib.func("int eventfd(unsigned int initval, int flags)");
  const socket = lib.func("int socket(int domain, int type, int protocol)");
  const setsockopt = lib.func(
    "int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)",
  );
  bound = {
    open: (path, flags) => open(path, flags) as number,
    ioctlPtr: (fd, request, arg) => ioctl(fd, request, "void *", arg) as number,
    ioctlValue: (fd, request, value) => ioctl(fd, request, "unsigned long", value) as number,
    read: (fd, buffer, length) => read(fd, buffer, length) as number,
    write: (fd, buffer, length) => write(fd, buffer, length) as number,
    close: (fd) => close(fd) as number,
    poll: (fds, count, timeoutMs) => poll(fds, count, timeoutMs) as number,
    eventfd: (initial, flags) => eventfd(initial, flags) as number,
    socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
    setsockoptInt: (fd, level, name, value) =>
      setsockopt(fd, level, name, new Int32Array([value]), 4) as number,
    errno: () => koffi.errno(),
  };
  return bound;
}

function loadLibc(): LibraryHandle {
  try {
    return koffi.load("libc.so.6");
  } catch {
    // musl and other libcs: the symbols are already in the process.
    return koffi.load(null);
  }
}

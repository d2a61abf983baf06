/*
 * runz-exec: the program every container process runs first, from a sealed in-memory file,
 * and which at once executes the container's real program:
 *
 *     runz-exec PATH ARGV0 [ARG...]   ->   execve(PATH, [ARGV0, ARG...], environ)
 *
 * Why: the process runz sets up inside a container is a fork of runz, so /proc/self/exe is
 * runz's own binary on the host until it executes something. A program that is a script whose
 * interpreter is /proc/self/exe would make the kernel run the host's runz inside the container,
 * where the container could then rewrite it (CVE-2019-5736). Executing this helper first, from
 * a sealed memfd, means /proc/self/exe is never the host's binary when the container's own
 * program starts.
 *
 * It is built without a C library (raw system calls, x86_64 and aarch64), so it is about a
 * kilobyte: sealing it costs microseconds and executing it next to nothing, where copying runz
 * itself into a memfd for every container costs milliseconds. Built by crates/runtime/build.rs
 * and embedded in runz; on other architectures runz seals its whole binary instead.
 */

#if defined(__x86_64__)
#define SYS_write 1
#define SYS_execve 59
#define SYS_exit 60
static long syscall3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}
__asm__(".text\n.globl _start\n_start:\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call start\n"
        "  hlt\n");
#elif defined(__aarch64__)
#define SYS_write 64
#define SYS_execve 221
#define SYS_exit 93
static long syscall3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
__asm__(".text\n.globl _start\n_start:\n"
        "  mov x0, sp\n"
        "  bl start\n");
#else
#error "runz-exec supports x86_64 and aarch64"
#endif

static unsigned long length(const char *s) {
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static void say(const char *text) {
    unsigned long left = length(text);
    while (left > 0) {
        long n = syscall3(SYS_write, 2, (long)text, (long)left);
        if (n <= 0)
            return;
        text += n;
        left -= (unsigned long)n;
    }
}

static const char *reason(long err) {
    switch (err) {
    case 1: return "Operation not permitted";
    case 2: return "No such file or directory";
    case 7: return "Argument list too long";
    case 8: return "Exec format error";
    case 12: return "Cannot allocate memory";
    case 13: return "Permission denied";
    case 20: return "Not a directory";
    case 21: return "Is a directory";
    case 26: return "Text file busy";
    case 36: return "File name too long";
    case 40: return "Too many levels of symbolic links";
    default: return "error";
    }
}

__attribute__((noreturn, used)) void start(long *stack) {
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    char **envp = argv + argc + 1;
    long status = 127;
    if (argc < 3) {
        say("runz-exec: usage: runz-exec PATH ARGV0 [ARG...]\n");
    } else {
        long err = -syscall3(SYS_execve, (long)argv[1], (long)(argv + 2), (long)envp);
        say("runz-exec: cannot execute ");
        say(argv[1]);
        say(": ");
        say(reason(err));
        say("\n");
        status = err == 2 ? 127 : 126;
    }
    for (;;)
        syscall3(SYS_exit, status, 0, 0);
}

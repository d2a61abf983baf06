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
 * program starts. It is a few kilobytes of code, so sealing it costs microseconds, where
 * copying runz itself into a memfd for every container costs milliseconds.
 *
 * Built static by crates/runtime/build.rs and embedded in runz.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

static void say(const char *text) {
    size_t left = strlen(text);
    while (left > 0) {
        ssize_t n = write(2, text, left);
        if (n <= 0)
            return;
        text += n;
        left -= (size_t)n;
    }
}

int main(int argc, char *argv[], char *envp[]) {
    if (argc < 3) {
        say("runz-exec: usage: runz-exec PATH ARGV0 [ARG...]\n");
        return 127;
    }
    execve(argv[1], argv + 2, envp);
    int err = errno;
    say("runz-exec: cannot execute ");
    say(argv[1]);
    say(": ");
    say(strerror(err));
    say("\n");
    return err == ENOENT ? 127 : 126;
}

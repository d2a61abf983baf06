/*
 * nnp: the stand-in for the nonewprivs:1.3 image's /usr/local/bin/nnp. Installed setuid
 * root; critest's NoNewPrivs specs run it as a non-root user and read this line: euid 0
 * when the setuid bit took effect, the user's own uid when no_new_privs stopped it.
 */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("Effective uid: %d\n", (int)geteuid());
	return 0;
}

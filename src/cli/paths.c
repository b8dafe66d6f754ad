// SPDX-License-Identifier: MIT
/* Where kvmini finds things on the host: its own files and the default kernel. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_default_kernel(char *buf, size_t len)
{
	struct dirent **names;
	int n = scandir("/boot", &names, NULL, versionsort);
	int found = -ENOENT;

	if (n < 0)
		return -errno;
	for (int i = n - 1; i >= 0; i--) {
		if (found && !strncmp(names[i]->d_name, "vmlinuz-", 8)) {
			snprintf(buf, len, "/boot/%s", names[i]->d_name);
			found = 0;
		}
		free(names[i]);
	}
	free(names);
	return found;
}

int cli_exe_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int cli_exe_dir(char *buf, size_t len)
{
	int ret = cli_exe_path(buf, len);
	char *slash;

	if (ret)
		return ret;
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

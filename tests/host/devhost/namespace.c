/*
 * namespace.c - `devhost run`: the private mount namespace the command runs
 * in.  QEMU 0.10/0.11 opens the fixed path /dev/kqemu, so an unmodified QEMU
 * must find the FUSE node there: devhost unshares the mount namespace, makes
 * / private, puts a tmpfs over /dev that mirrors every entry of the real
 * /dev by bind mounts, mounts the FUSE fs on /dev/.devhost and binds its
 * node onto /dev/NODE.  The host's /dev is never written.
 *
 * Locking: none; the main thread runs it before the command starts.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "devhost.h"

static int
mkfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return (-1);
	close(fd);
	return (0);
}

/*
 * Put a tmpfs over /dev in this (private) namespace and mirror every entry
 * of the real /dev into it with bind mounts (directories recursively, so
 * /dev/pts, /dev/shm ... keep working); the real /dev is never written.
 */
static int
shadow_dev(void)
{
	char src[PATH_MAX], dst[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd, n, error = 0;

	dfd = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return (-1);
	if (mount("devhost", "/dev", "tmpfs", MS_NOSUID, "mode=0755") != 0) {
		logmsg("mount tmpfs on /dev: %s", strerror(errno));
		close(dfd);
		return (-1);
	}
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		snprintf(src, sizeof(src), "/proc/self/fd/%d/%s", dfd, de->d_name);
		snprintf(dst, sizeof(dst), "/dev/%s", de->d_name);
		if (S_ISLNK(st.st_mode)) {
			n = (int)readlinkat(dfd, de->d_name, link, sizeof(link) - 1);
			if (n < 0)
				continue;
			link[n] = '\0';
			if (symlink(link, dst) != 0)
				error = -1;
			continue;
		}
		if (S_ISDIR(st.st_mode) ? mkdir(dst, st.st_mode & 07777) : mkfile(dst)) {
			error = -1;
			continue;
		}
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0) {
			dbg("bind %s: %s", dst, strerror(errno));
			error = -1;
		}
	}
	closedir(d);
	if (error != 0)
		logmsg("some /dev entries could not be mirrored");
	return (0);
}

int
run_prepare(char *mnt, size_t mntlen)
{
	if (unshare(CLONE_NEWNS) != 0) {
		logmsg("unshare(CLONE_NEWNS): %s (devhost run needs root)",
		    strerror(errno));
		return (-1);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		logmsg("make / rprivate: %s", strerror(errno));
		return (-1);
	}
	if (shadow_dev() != 0)
		return (-1);
	snprintf(mnt, mntlen, "/dev/.devhost");
	if (mkdir(mnt, 0755) != 0) {
		logmsg("mkdir %s: %s", mnt, strerror(errno));
		return (-1);
	}
	return (0);
}

int
run_bind(const char *mnt)
{
	char src[PATH_MAX], dst[PATH_MAX];

	snprintf(src, sizeof(src), "%s/%s", mnt, g_opt.run_node);
	snprintf(dst, sizeof(dst), "/dev/%s", g_opt.run_node);
	(void)unlink(dst);
	if (mkfile(dst) != 0) {
		logmsg("create %s: %s", dst, strerror(errno));
		return (-1);
	}
	if (mount(src, dst, NULL, MS_BIND, NULL) != 0) {
		logmsg("bind %s on %s: %s", src, dst, strerror(errno));
		return (-1);
	}
	return (0);
}

/* privs.c - dropping root after start-up; see privs.h. */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "log.h"

int
privs_check(const struct config *cfg, int running, char *err, size_t errlen)
{
	struct passwd *pw = NULL;
	struct stat st;

	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) == NULL) {
		snprintf(err, errlen, "%s: user = %s: no such user", cfg->path, cfg->user);
		return -1;
	}
	if (cfg->group != NULL && getgrnam(cfg->group) == NULL) {
		snprintf(err, errlen, "%s: group = %s: no such group", cfg->path, cfg->group);
		return -1;
	}
	if (cfg->chroot != NULL && (stat(cfg->chroot, &st) != 0 || !S_ISDIR(st.st_mode))) {
		snprintf(err, errlen, "%s: chroot = %s: not a directory", cfg->path, cfg->chroot);
		return -1;
	}
	if (!running)
		return 0;
	if (geteuid() != 0 && ((pw != NULL && pw->pw_uid != geteuid()) || cfg->chroot != NULL)) {
		snprintf(err, errlen, "%s: user/chroot need starttlsd to be started as root", cfg->path);
		return -1;
	}
	if (geteuid() == 0 && pw == NULL && !cfg->allow_root) {
		snprintf(err, errlen, "%s: refusing to run as root: set user = (an unprivileged account) in [global], "
		    "or allow_root = yes", cfg->path);
		return -1;
	}
	return 0;
}

int
privs_drop(const struct config *cfg, char *err, size_t errlen)
{
	struct passwd *pw = NULL;
	struct group *gr;
	uid_t uid;
	gid_t gid;

	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) == NULL) {
		snprintf(err, errlen, "%s: user = %s: no such user", cfg->path, cfg->user);
		return -1;
	}
	if (geteuid() != 0) {
		if ((pw != NULL && pw->pw_uid != geteuid()) || cfg->chroot != NULL) {
			snprintf(err, errlen, "%s: user/chroot need starttlsd to be started as root", cfg->path);
			return -1;
		}
		return 0;
	}
	if (pw == NULL) {
		if (cfg->allow_root) {
			log_event(LOG_WARN, "privileges", "user=root reason=allow_root");
			return 0;
		}
		snprintf(err, errlen, "%s: refusing to run as root: set user = (an unprivileged account) in [global], "
		    "or allow_root = yes", cfg->path);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (cfg->group != NULL) {
		if ((gr = getgrnam(cfg->group)) == NULL) {
			snprintf(err, errlen, "%s: group = %s: no such group", cfg->path, cfg->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (cfg->chroot != NULL && (chroot(cfg->chroot) != 0 || chdir("/") != 0)) {
		snprintf(err, errlen, "%s: chroot %s: %s", cfg->path, cfg->chroot, strerror(errno));
		return -1;
	}
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "%s: cannot switch to user %s: %s", cfg->path, cfg->user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		snprintf(err, errlen, "%s: still root after switching to user %s", cfg->path, cfg->user);
		return -1;
	}
	log_event(LOG_INFO, "privileges", "user=%s uid=%u gid=%u chroot=%s", cfg->user, (unsigned)uid,
	    (unsigned)gid, cfg->chroot ? cfg->chroot : "-");
	return 0;
}

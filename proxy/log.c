/* log.c - key=value logging; see log.h. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log_json.h"

#define SYSLOG_MAIL 2	/* facility mail (RFC 5424) */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
/* syslog severities of those levels: err, warning, info, debug */
static const int severities[] = { 3, 4, 6, 7 };

/* Set before the worker threads start, read-only afterwards. */
static enum log_format format = LOG_FORMAT_TEXT;
static enum log_target target = LOG_TARGET_STDERR;
static struct sockaddr_un syslog_addr;
static int syslog_fd = -1;
static pthread_mutex_t syslog_lock = PTHREAD_MUTEX_INITIALIZER;	/* reconnecting only */

/* (Re)connect the syslog socket. Returns 0 or -1 (errno set). */
static int
syslog_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&syslog_addr, sizeof(syslog_addr)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (syslog_fd >= 0)
		close(syslog_fd);
	syslog_fd = fd;
	return 0;
}

int
log_configure(enum log_format f, enum log_target t, const char *syslog_socket, char *err, size_t errlen)
{
	if (t != LOG_TARGET_SYSLOG) {
		format = f;
		target = t;
		return 0;
	}
	memset(&syslog_addr, 0, sizeof(syslog_addr));
	syslog_addr.sun_family = AF_UNIX;
	if (strlen(syslog_socket) >= sizeof(syslog_addr.sun_path)) {
		snprintf(err, errlen, "syslog_socket %s: path too long", syslog_socket);
		return -1;
	}
	memcpy(syslog_addr.sun_path, syslog_socket, strlen(syslog_socket) + 1);
	if (syslog_connect() != 0) {
		snprintf(err, errlen, "syslog_socket %s: %s", syslog_socket, strerror(errno));
		return -1;
	}
	format = f;
	target = t;
	return 0;
}

/* One line to syslog: "<PRI>Mmm dd hh:mm:ss starttlsd[pid]: text". Returns 0 or -1. */
static int
to_syslog(enum log_level level, const struct tm *local, const char *text, size_t n)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
		"Nov", "Dec" };
	char msg[4200];
	int h = snprintf(msg, sizeof(msg), "<%d>%s %2d %02d:%02d:%02d starttlsd[%d]: ", SYSLOG_MAIL * 8 + severities[level],
	    months[local->tm_mon], local->tm_mday, local->tm_hour, local->tm_min, local->tm_sec, (int)getpid());

	if (n > sizeof(msg) - (size_t)h)
		n = sizeof(msg) - (size_t)h;
	memcpy(msg + h, text, n);
	if (send(syslog_fd, msg, (size_t)h + n, MSG_NOSIGNAL) >= 0)
		return 0;
	/* The daemon restarted (its socket is new): connect again, once. */
	pthread_mutex_lock(&syslog_lock);
	int ok = syslog_connect() == 0 && send(syslog_fd, msg, (size_t)h + n, MSG_NOSIGNAL) >= 0;
	pthread_mutex_unlock(&syslog_lock);
	return ok ? 0 : -1;
}

/* A finished line (text form, no newline) to where lines go, in the configured form. */
static void
emit(enum log_level level, const struct timespec *ts, char *line, size_t n, size_t cap)
{
	char json[4200], *out = line;
	struct tm local;
	size_t len = n;

	if (format == LOG_FORMAT_JSON) {
		len = log_kv_to_json(line, n, json, sizeof(json) - 1);
		out = json;
	}
	if (target == LOG_TARGET_SYSLOG) {
		localtime_r(&ts->tv_sec, &local);
		if (to_syslog(level, &local, out, len) == 0)
			return;
	}
	if (out == line && len + 1 > cap)
		len = cap - 1;
	out[len++] = '\n';
	if (write(STDERR_FILENO, out, len) < 0) {
		/* nowhere left to report it */
	}
}
/* Read by every worker, set by the main thread on reload: an atomic, relaxed (it orders nothing). */
static atomic_int threshold = LOG_INFO;

void
log_set_level(enum log_level level)
{
	atomic_store_explicit(&threshold, (int)level, memory_order_relaxed);
}

int
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&threshold, memory_order_relaxed);
}

void
log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000, level_names[level], event);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	while (n > 0 && line[n - 1] == ' ')
		n--;
	emit(level, &ts, line, (size_t)n, sizeof(line));
}

void
log_config_message(enum log_level level, const char *msg)
{
	char q[1100];
	int warn = level != LOG_ERROR;

	if (format == LOG_FORMAT_TEXT && target == LOG_TARGET_STDERR) {
		fprintf(stderr, "%s\n", msg);
		return;
	}
	log_event(level, warn ? "config_warning" : "config_error", "%s=%s", warn ? "warning" : "error",
	    log_quote(q, sizeof(q), msg, strlen(msg)));
}

char *
log_quote(char *dst, size_t dstlen, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	int plain = len > 0;

	for (i = 0; i < len && plain; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
			plain = 0;
	}
	if (!plain && o + 1 < dstlen)
		dst[o++] = '"';
	for (i = 0; i < len && o + 6 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (plain || (c >= ' ' && c < 0x7f && c != '"' && c != '\\')) {
			dst[o++] = (char)c;
		} else if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (!plain && o + 1 < dstlen)
		dst[o++] = '"';
	dst[o < dstlen ? o : dstlen - 1] = '\0';
	return dst;
}

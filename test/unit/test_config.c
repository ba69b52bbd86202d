/* test_config.c - unit tests for proxy/config*.c (INI parsing and validation; the dump: test_config_dump.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "cpus.h"

#define PATH "conf/starttlsd.ini"

/* A [tls] section and one complete listener: lines 1-6. */
#define TLS3 "[tls]\ncertificate = /etc/ssl/chain.pem\nkey = /etc/ssl/key.pem\n"
#define LISTENER_A "[listener a]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:2525\n"
#define MINIMAL TLS3 LISTENER_A

static struct config *
parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return config_parse_string(text, PATH, err, errlen);
}

/* Parsing must fail with exactly the message want. */
static void
expect_error(int line, const char *text, const char *want)
{
	char err[512];
	struct config *cfg = parse(text, err, sizeof(err));

	if (cfg != NULL || strcmp(err, want) != 0)
		fprintf(stderr, "test_config.c:%d: expected an error\n", line);
	CHECK(cfg == NULL);
	CHECK_STR(err, want);
	config_free(cfg);
}

/* Parsing must fail with a message that starts with want. */
static void
expect_error_prefix(int line, const char *text, const char *want)
{
	char err[512];
	struct config *cfg = parse(text, err, sizeof(err));

	if (cfg != NULL || strncmp(err, want, strlen(want)) != 0)
		fprintf(stderr, "test_config.c:%d: expected an error starting [%s], got [%s]\n", line, want, err);
	CHECK(cfg == NULL);
	CHECK(strncmp(err, want, strlen(want)) == 0);
	config_free(cfg);
}

static const struct sockaddr_in *
sin4(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr_in *)ss;
}

static const struct sockaddr_in6 *
sin6(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr_in6 *)ss;
}

static int
is_v4(const struct sockaddr_storage *ss, const char *addr, int port)
{
	struct in_addr a;

	return ss->ss_family == AF_INET && inet_pton(AF_INET, addr, &a) == 1 &&
	    sin4(ss)->sin_addr.s_addr == a.s_addr && ntohs(sin4(ss)->sin_port) == port;
}

static int
is_v6(const struct sockaddr_storage *ss, const char *addr, int port)
{
	struct in6_addr a;

	return ss->ss_family == AF_INET6 && inet_pton(AF_INET6, addr, &a) == 1 &&
	    memcmp(&sin6(ss)->sin6_addr, &a, sizeof(a)) == 0 && ntohs(sin6(ss)->sin6_port) == port;
}

static void
test_full(void)
{
	static const char text[] =
	    "; starttlsd configuration\n"			/* 1 */
	    "[global]\n"					/* 2 */
	    "workers = 4\n"					/* 3 */
	    "log_level = debug\n"				/* 4 */
	    "shutdown_timeout = 45s\n"				/* 5 */
	    "\n"						/* 6 */
	    "[tls]\n"						/* 7 */
	    "certificate = /etc/starttlsd/chain.pem\n"		/* 8 */
	    "key = /etc/starttlsd/key.pem\n"			/* 9 */
	    "\n"						/* 10 */
	    "# the submission port\n"				/* 11 */
	    "[listener submission]\n"				/* 12 */
	    "listen = 0.0.0.0:587\n"				/* 13 */
	    "backend = 127.0.0.1:10587\n"			/* 14 */
	    "tls = starttls\n"					/* 15 */
	    "hostname = mail.example.org\n"			/* 16 */
	    "connect_timeout = 500ms\n"				/* 17 */
	    "handshake_timeout = 20s\n"				/* 18 */
	    "idle_timeout = 5m\n"				/* 19 */
	    "data_timeout = 1h\n"				/* 20 */
	    "max_line_length = 1k\n"				/* 21 */
	    "max_reply_length = 128k\n"				/* 22 */
	    "\n"						/* 23 */
	    "[listener smtps]\n"				/* 24 */
	    "listen = [::]:465\n"				/* 25 */
	    "backend = [::1]:10465\n"				/* 26 */
	    "tls = implicit\n";					/* 27 */
	char err[512];
	struct config *cfg = parse(text, err, sizeof(err));
	const struct listener_conf *l;

	CHECK(cfg != NULL || (fprintf(stderr, "  error: %s\n", err), 0));
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->path, PATH);
	CHECK(cfg->workers == 4);
	CHECK(cfg->log_level == LOG_DEBUG);
	CHECK(cfg->shutdown_timeout_ms == 45000);
	CHECK(cfg->tls.present == 1);
	CHECK(cfg->tls.line == 7);
	CHECK_STR(cfg->tls.certificate, "/etc/starttlsd/chain.pem");
	CHECK(cfg->tls.certificate_line == 8);
	CHECK_STR(cfg->tls.key, "/etc/starttlsd/key.pem");
	CHECK(cfg->tls.key_line == 9);
	CHECK(cfg->nlisteners == 2);

	l = &cfg->listeners[0];
	CHECK_STR(l->name, "submission");
	CHECK(l->line == 12);
	CHECK(is_v4(&l->listen, "0.0.0.0", 587));
	CHECK_STR(l->listen_str, "0.0.0.0:587");
	CHECK(l->listen_line == 13);
	CHECK(is_v4(&l->backend.addr, "127.0.0.1", 10587));
	CHECK_STR(l->backend_str, "127.0.0.1:10587");
	CHECK(l->tls == TLS_MODE_STARTTLS);
	CHECK_STR(l->hostname, "mail.example.org");
	CHECK(l->connect_timeout_ms == 500);
	CHECK(l->handshake_timeout_ms == 20000);
	CHECK(l->idle_timeout_ms == 300000);
	CHECK(l->data_timeout_ms == 3600000);
	CHECK(l->max_line_length == 1024);
	CHECK(l->max_reply_length == 128 * 1024);

	l = &cfg->listeners[1];
	CHECK_STR(l->name, "smtps");
	CHECK(l->line == 24);
	CHECK(is_v6(&l->listen, "::", 465));
	CHECK_STR(l->listen_str, "[::]:465");
	CHECK(l->listen_line == 25);
	CHECK(is_v6(&l->backend.addr, "::1", 10465));
	CHECK_STR(l->backend_str, "[::1]:10465");
	CHECK(l->tls == TLS_MODE_IMPLICIT);
	/* Defaults. */
	CHECK(l->hostname != NULL && l->hostname[0] != '\0');
	CHECK(l->connect_timeout_ms == 10000);
	CHECK(l->handshake_timeout_ms == 30000);
	CHECK(l->idle_timeout_ms == 300000);
	CHECK(l->data_timeout_ms == 600000);
	CHECK(l->max_line_length == 512);
	CHECK(l->max_reply_length == 65536);
	config_free(cfg);

	CHECK_STR(config_tls_mode_name(TLS_MODE_STARTTLS), "starttls");
	CHECK_STR(config_tls_mode_name(TLS_MODE_IMPLICIT), "implicit");
}

static void
test_defaults(void)
{
	char err[512];
	struct config *cfg = parse(MINIMAL, err, sizeof(err));
	char host[256];

	CHECK(cfg != NULL || (fprintf(stderr, "  error: %s\n", err), 0));
	if (cfg == NULL)
		return;
	CHECK(cfg->workers >= 1 && cfg->workers <= 256);	/* auto */
	CHECK(cfg->log_level == LOG_INFO);
	CHECK(cfg->shutdown_timeout_ms == 30000);
	CHECK(cfg->nlisteners == 1);
	CHECK(cfg->listeners[0].tls == TLS_MODE_STARTTLS);
	CHECK(cfg->listeners[0].line == 4);
	/* hostname defaults to the host's name. */
	if (gethostname(host, sizeof(host)) == 0 && host[0] != '\0') {
		host[sizeof(host) - 1] = '\0';
		CHECK_STR(cfg->listeners[0].hostname, host);
	}
	config_free(cfg);

	/* workers = auto, explicitly. */
	cfg = parse("[global]\nworkers = auto\n" MINIMAL, err, sizeof(err));
	CHECK(cfg != NULL && cfg->workers >= 1);
	config_free(cfg);

	/* Edge values. */
	cfg = parse("[global]\nworkers = 256\nlog_level = error\nshutdown_timeout = 0\n" MINIMAL, err, sizeof(err));
	CHECK(cfg != NULL && cfg->workers == 256 && cfg->log_level == LOG_ERROR && cfg->shutdown_timeout_ms == 0);
	config_free(cfg);
	cfg = parse("[global]\nworkers = 1\nlog_level = warn\n" MINIMAL, err, sizeof(err));
	CHECK(cfg != NULL && cfg->workers == 1 && cfg->log_level == LOG_WARN);
	config_free(cfg);
	cfg = parse(MINIMAL "max_line_length = 64\nmax_reply_length = 1m\n", err, sizeof(err));
	CHECK(cfg != NULL && cfg->listeners[0].max_line_length == 64 &&
	    cfg->listeners[0].max_reply_length == 1024 * 1024);
	config_free(cfg);
	cfg = parse(MINIMAL "max_line_length = 32K\nmax_reply_length = 1024K\n", err, sizeof(err));
	CHECK(cfg != NULL && cfg->listeners[0].max_line_length == 32 * 1024 &&
	    cfg->listeners[0].max_reply_length == 1024 * 1024);
	config_free(cfg);

	/* Sections in any order, [tls] after the listeners. */
	cfg = parse(LISTENER_A "[global]\nworkers = 2\n" TLS3, err, sizeof(err));
	CHECK(cfg != NULL && cfg->workers == 2 && cfg->tls.line == 6 && cfg->tls.certificate_line == 7);
	config_free(cfg);
}

static void
test_syntax(void)
{
	char err[512];
	struct config *cfg;

	/* Inline comments after values, ';' and '#' comment lines, blank lines, CRLF. */
	cfg = parse("# comment\n; comment\n\n[global] ; the globals\nworkers = 2 ; comment\n"
		    "log_level = warn\t; tabbed comment\n\n   \n" TLS3 LISTENER_A
		    "hostname = mx.example ; not part of the name\n",
	    err, sizeof(err));
	CHECK(cfg != NULL || (fprintf(stderr, "  error: %s\n", err), 0));
	if (cfg != NULL) {
		CHECK(cfg->workers == 2);
		CHECK(cfg->log_level == LOG_WARN);
		CHECK_STR(cfg->listeners[0].hostname, "mx.example");
	}
	config_free(cfg);

	cfg = parse("[global]\r\nworkers = 3\r\n[tls]\r\ncertificate = c\r\nkey = k\r\n[listener x]\r\n"
		    "listen = 127.0.0.1:25\r\nbackend = 127.0.0.1:26\r\n",
	    err, sizeof(err));
	CHECK(cfg != NULL && cfg->workers == 3 && strcmp(cfg->tls.key, "k") == 0 &&
	    strcmp(cfg->listeners[0].name, "x") == 0 && is_v4(&cfg->listeners[0].backend.addr, "127.0.0.1", 26));
	config_free(cfg);

	/* Spaces around '=' and ':' as separator (inih accepts both). */
	cfg = parse("[global]\nworkers=5\n" TLS3 LISTENER_A "idle_timeout:10s\n", err, sizeof(err));
	CHECK(cfg != NULL && cfg->workers == 5 && cfg->listeners[0].idle_timeout_ms == 10000);
	config_free(cfg);

	/* No newline at the end of the file. */
	cfg = parse(TLS3 "[listener a]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:2525", err, sizeof(err));
	CHECK(cfg != NULL && is_v4(&cfg->listeners[0].backend.addr, "127.0.0.1", 2525));
	config_free(cfg);

	/* A ';' without a space before it is part of the value. */
	expect_error(__LINE__, "[global]\nworkers = 2;x\n" MINIMAL,
	    PATH ":2: workers = '2;x': must be auto or a number from 1 to 256");
}

static void
test_durations(void)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{ "500ms", 500 }, { "30s", 30000 }, { "5m", 300000 }, { "1h", 3600000 }, { "10", 10000 },
		{ "0", 0 }, { "0ms", 0 }, { "1ms", 1 }, { "90s", 90000 }, { "24h", 86400000 },
		{ "4294967295ms", 4294967295ULL }, { "4294967295", 4294967295000ULL }, { "007s", 7000 },
		{ "1d", 86400000 }, { "7d", 604800000 },
	};
	static const char *const bad[] = {
		"", "s", "ms", "-1", "+5", " 5", "5 ", "5 s", "1.5s", "10S", "10MS", "5x", "10sec", "5mm", "1D", "2dd",
		"4294967296", "4294967296ms", "99999999999999999999999", "0x10", "abc", "1h30m",
	};
	size_t i;
	uint64_t ms;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 12345;
		CHECK((config_parse_duration(good[i].s, &ms) == 0 && ms == good[i].ms) ||
		    (fprintf(stderr, "  duration [%s] -> %llu\n", good[i].s, (unsigned long long)ms), 0));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		CHECK((config_parse_duration(bad[i], &ms) == -1 && ms == 12345) ||
		    (fprintf(stderr, "  bad duration [%s] accepted\n", bad[i]), 0));
	}

	/* In the file: values are trimmed by the INI parser. */
	{
		char err[512];
		struct config *cfg = parse(MINIMAL "data_timeout =   2m   \n", err, sizeof(err));
		CHECK(cfg != NULL && cfg->listeners[0].data_timeout_ms == 120000);
		config_free(cfg);
	}
	expect_error(__LINE__, MINIMAL "idle_timeout = 5 minutes\n",
	    PATH ":7: idle_timeout = '5 minutes': is not a duration (examples: 500ms, 30s, 5m, 1h, 7d)");
	expect_error(__LINE__, "[global]\nshutdown_timeout = -1s\n" MINIMAL,
	    PATH ":2: shutdown_timeout = '-1s': is not a duration (examples: 500ms, 30s, 5m, 1h, 7d)");
}

static void
test_sizes(void)
{
	size_t n;

	CHECK(config_parse_size("512", &n) == 0 && n == 512);
	CHECK(config_parse_size("64k", &n) == 0 && n == 65536);
	CHECK(config_parse_size("64K", &n) == 0 && n == 65536);
	CHECK(config_parse_size("2m", &n) == 0 && n == 2 * 1024 * 1024);
	CHECK(config_parse_size("0", &n) == 0 && n == 0);
	CHECK(config_parse_size("", &n) == -1);
	CHECK(config_parse_size("k", &n) == -1);
	CHECK(config_parse_size("-1", &n) == -1);
	CHECK(config_parse_size("1g", &n) == -1);
	CHECK(config_parse_size("1kb", &n) == -1);
	CHECK(config_parse_size("1 k", &n) == -1);
	CHECK(config_parse_size("99999999999999999999", &n) == -1);

	expect_error(__LINE__, MINIMAL "max_line_length = 63\n",
	    PATH ":7: max_line_length = '63': must be a size from 64 to 32k (bytes, k suffix)");
	expect_error(__LINE__, MINIMAL "max_reply_length = 1025k\n",
	    PATH ":7: max_reply_length = '1025k': must be a size from 512 to 1m (bytes, k or m suffix)");
	expect_error(__LINE__, MINIMAL "max_reply_length = lots\n",
	    PATH ":7: max_reply_length = 'lots': must be a size from 512 to 1m (bytes, k or m suffix)");
}

static void
test_addresses(void)
{
	static const struct {
		const char *s;
		int v6;
		const char *addr;
		int port;
	} good[] = {
		{ "127.0.0.1:25", 0, "127.0.0.1", 25 },
		{ "0.0.0.0:587", 0, "0.0.0.0", 587 },
		{ "192.0.2.10:65535", 0, "192.0.2.10", 65535 },
		{ "10.0.0.1:1", 0, "10.0.0.1", 1 },
		{ "[::1]:25", 1, "::1", 25 },
		{ "[::]:465", 1, "::", 465 },
		{ "[2001:db8::42]:10025", 1, "2001:db8::42", 10025 },
		{ "[::ffff:192.0.2.1]:25", 1, "::ffff:192.0.2.1", 25 },
	};
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:25x", "127.0.0.1:-25",
		"127.0.0.1:+25", "127.0.0.1: 25", ":25", "localhost:25", "mail.example:25", "256.0.0.1:25",
		"127.0.0.1.5:25", "::1:25", "::1", "[::1]", "[::1]25", "[::1]:", "[::1]:0", "[]:25",
		"[127.0.0.1]:25", "[::1:25", "::1]:25", "[zz::1]:25", "127.0.0.1:99999999999999999999",
		"[fe80::1%lo]:25",
	};
	struct sockaddr_storage ss;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(config_parse_addr(good[i].s, &ss) == 0 ||
		    (fprintf(stderr, "  address [%s] refused\n", good[i].s), 0));
		if (good[i].v6)
			CHECK(is_v6(&ss, good[i].addr, good[i].port));
		else
			CHECK(is_v4(&ss, good[i].addr, good[i].port));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(config_parse_addr(bad[i], &ss) == -1 ||
		    (fprintf(stderr, "  bad address [%s] accepted\n", bad[i]), 0));

	expect_error(__LINE__, TLS3 "[listener a]\nlisten = localhost:25\nbackend = 127.0.0.1:2525\n",
	    PATH ":5: listen = 'localhost:25': is not an address (a.b.c.d:port or [ipv6]:port)");
	expect_error(__LINE__, TLS3 "[listener a]\nlisten = 127.0.0.1:25\nbackend = [::1]\n",
	    PATH ":6: backend = '[::1]': is not an address or host name with a port (a.b.c.d:port, [ipv6]:port, "
		 "name:port)");
	/* An over-long address (64+ bytes) is refused, not truncated. */
	expect_error_prefix(__LINE__,
	    TLS3 "[listener a]\nlisten = [0000:0000:0000:0000:0000:0000:0000:0001]:25000000000000000000000000\n"
		 "backend = 127.0.0.1:2525\n",
	    PATH ":5: listen = '");
}

static void
test_errors(void)
{
	/* Unknown section (its header line). */
	expect_error_prefix(__LINE__, "[global]\nworkers = 2\n[bogus]\n" MINIMAL,
	    PATH ":3: unknown section [bogus] (expected [global], [tls]");
	expect_error_prefix(__LINE__, MINIMAL "[listener]\n",
	    PATH ":7: unknown section [listener] (expected [global], [tls]");
	expect_error_prefix(__LINE__, MINIMAL "[Global]\n",
	    PATH ":7: unknown section [Global] (expected [global], [tls]");
	expect_error(__LINE__, MINIMAL "[listener  ]\n", PATH ":7: [listener NAME] needs a name");
	/* Unknown key (its line), also a key of another section. */
	expect_error(__LINE__, "[global]\nworkers = 2\nthreads = 4\n" MINIMAL,
	    PATH ":3: unknown key 'threads' in [global]");
	expect_error(__LINE__, MINIMAL "workers = 2\n", PATH ":7: unknown key 'workers' in [listener a]");
	expect_error(__LINE__, TLS3 "listen = 127.0.0.1:25\n" LISTENER_A,
	    PATH ":4: unknown key 'listen' in [tls]");
	expect_error(__LINE__, "[global]\ncertificate = x\n" MINIMAL, PATH ":2: unknown key 'certificate' in [global]");
	/* Duplicate key: the line of the second one. */
	expect_error(__LINE__, "[global]\nworkers = 2\nlog_level = info\nworkers = 3\n" MINIMAL,
	    PATH ":4: duplicate key 'workers' in [global]");
	expect_error(__LINE__, MINIMAL "backend = 127.0.0.1:2526\n",
	    PATH ":7: duplicate key 'backend' in [listener a]");
	expect_error(__LINE__, TLS3 "key = /other.pem\n" LISTENER_A, PATH ":4: duplicate key 'key' in [tls]");
	/* The same key in two listeners is fine. */
	{
		char err[512];
		struct config *cfg = parse(MINIMAL "idle_timeout = 1s\n[listener b]\nlisten = 127.0.0.1:26\n"
						   "backend = 127.0.0.1:2525\nidle_timeout = 2s\n",
		    err, sizeof(err));
		CHECK(cfg != NULL && cfg->nlisteners == 2 && cfg->listeners[0].idle_timeout_ms == 1000 &&
		    cfg->listeners[1].idle_timeout_ms == 2000);
		config_free(cfg);
	}
	/* Bad values. */
	expect_error(__LINE__, "[global]\nworkers = 0\n" MINIMAL,
	    PATH ":2: workers = '0': must be auto or a number from 1 to 256");
	expect_error(__LINE__, "[global]\nworkers = abc\n" MINIMAL,
	    PATH ":2: workers = 'abc': must be auto or a number from 1 to 256");
	expect_error(__LINE__, "\n\n[global]\nworkers = 257\n" MINIMAL,
	    PATH ":4: workers = '257': must be auto or a number from 1 to 256");
	expect_error(__LINE__, "[global]\nworkers = -1\n" MINIMAL,
	    PATH ":2: workers = '-1': must be auto or a number from 1 to 256");
	expect_error(__LINE__, "[global]\nworkers = 2x\n" MINIMAL,
	    PATH ":2: workers = '2x': must be auto or a number from 1 to 256");
	expect_error(__LINE__, "[global]\nworkers = AUTO\n" MINIMAL,
	    PATH ":2: workers = 'AUTO': must be auto or a number from 1 to 256");
	expect_error(__LINE__, "[global]\nlog_level = verbose\n" MINIMAL,
	    PATH ":2: log_level = 'verbose': must be error, warn, info or debug");
	expect_error(__LINE__, "[global]\nlog_level = DEBUG\n" MINIMAL,
	    PATH ":2: log_level = 'DEBUG': must be error, warn, info or debug");
	expect_error(__LINE__, MINIMAL "tls = ssl\n", PATH ":7: tls = 'ssl': must be starttls, implicit or none");
	expect_error(__LINE__, MINIMAL "tls = STARTTLS\n", PATH ":7: tls = 'STARTTLS': must be starttls, implicit or none");
	expect_error(__LINE__, MINIMAL "hostname =\n", PATH ":7: hostname = '': must not be empty");
	expect_error(__LINE__, "[tls]\ncertificate = \nkey = k\n" LISTENER_A,
	    PATH ":2: certificate = '': must not be empty");
	/* Duplicate listen address: the line of the second listen. */
	expect_error(__LINE__,
	    MINIMAL "\n[listener b]\nbackend = 127.0.0.1:2526\nlisten = 127.0.0.1:25\n",
	    PATH ":10: listen address 127.0.0.1:25 is already used by [listener a]");
	expect_error(__LINE__,
	    TLS3 "[listener a]\nlisten = [::1]:25\nbackend = 127.0.0.1:2525\n"
		 "[listener b]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:2525\n"
		 "[listener c]\nlisten = [0:0::1]:25\nbackend = 127.0.0.1:2525\n",
	    PATH ":11: listen address [0:0::1]:25 is already used by [listener a]");
	/* ... different ports or families are different addresses. */
	{
		char err[512];
		struct config *cfg = parse(TLS3 "[listener a]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:2525\n"
						"[listener b]\nlisten = 127.0.0.1:26\nbackend = 127.0.0.1:2525\n"
						"[listener c]\nlisten = [::1]:25\nbackend = 127.0.0.1:2525\n",
		    err, sizeof(err));
		CHECK(cfg != NULL && cfg->nlisteners == 3);
		config_free(cfg);
	}
	/* Listener without a [tls] section: the listener's header line. */
	expect_error(__LINE__, "[global]\nworkers = 1\n" LISTENER_A,
	    PATH ":3: [listener a] uses tls = starttls but there is no [tls] section");
	expect_error(__LINE__, LISTENER_A "tls = implicit\n",
	    PATH ":1: [listener a] uses tls = implicit but there is no [tls] section");
	/* [tls] without certificate or key: the [tls] line. */
	expect_error(__LINE__, LISTENER_A "[tls]\nkey = k\n", PATH ":4: [tls] has no 'certificate'");
	expect_error(__LINE__, LISTENER_A "\n[tls]\ncertificate = c\n", PATH ":5: [tls] has no 'key'");
	/* Missing listen / backend: the listener's header line. */
	expect_error(__LINE__, TLS3 "\n[listener a]\nbackend = 127.0.0.1:2525\n",
	    PATH ":5: [listener a] has no 'listen' address");
	expect_error(__LINE__, TLS3 "[listener a]\nlisten = 127.0.0.1:25\n",
	    PATH ":4: [listener a] has no 'backend' address");
	expect_error(__LINE__, MINIMAL "[listener b]\nlisten = 127.0.0.1:26\n",
	    PATH ":7: [listener b] has no 'backend' address");
	/* No listener at all. */
	expect_error(__LINE__, "", PATH ":1: no [listener NAME] section: nothing to do");
	expect_error(__LINE__, "[global]\nworkers = 2\n" TLS3, PATH ":5: no [listener NAME] section: nothing to do");
	/* Key outside any section. */
	expect_error(__LINE__, "workers = 2\n" MINIMAL, PATH ":1: key 'workers' outside any section");
	expect_error(__LINE__, "; comment\n\nlog_level = info\n[global]\n" MINIMAL,
	    PATH ":3: key 'log_level' outside any section");
	/* Syntax errors: the offending line. */
	expect_error(__LINE__, "[global]\nworkers 2\n" MINIMAL,
	    PATH ":2: syntax error (expected [section], key = value, or a ; comment)");
	/* An unclosed header is reported at its own line, not at the next key. */
	expect_error(__LINE__, MINIMAL "[listener b\n", PATH ":7: section header not closed: expected ']'");
	expect_error(__LINE__, MINIMAL "[listener b\nlisten = 127.0.0.1:26\n",
	    PATH ":7: section header not closed: expected ']'");
	expect_error(__LINE__, MINIMAL "just some words\n",
	    PATH ":7: syntax error (expected [section], key = value, or a ; comment)");
	/* Duplicate sections. */
	expect_error_prefix(__LINE__, MINIMAL "[tls]\n", PATH ":7: duplicate section [tls]");
	expect_error_prefix(__LINE__,
	    MINIMAL "[listener b]\nlisten = 127.0.0.1:26\nbackend = 127.0.0.1:2525\n[listener a]\n",
	    PATH ":10: duplicate section [listener a]");
	/* Over-long lines and section names. */
	{
		char text[1024];
		snprintf(text, sizeof(text), MINIMAL "hostname = %0*d\n", 250, 0);
		expect_error(__LINE__, text, PATH ":7: line too long (at most 198 bytes)");
		snprintf(text, sizeof(text), MINIMAL "[listener %0*d]\n", 130, 0);
		expect_error(__LINE__, text, PATH ":7: section name too long");
	}
	/* Only the first error is reported. */
	expect_error(__LINE__, "[global]\nworkers = 0\nbogus = 1\n[x]\n",
	    PATH ":2: workers = '0': must be auto or a number from 1 to 256");
}

static void
test_err_buffer(void)
{
	char err[12];
	struct config *cfg;

	/* A short buffer truncates the message but stays NUL-terminated. */
	memset(err, 'X', sizeof(err));
	cfg = config_parse_string("[bogus]\n", "f.ini", err, sizeof(err));
	CHECK(cfg == NULL);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	CHECK(strncmp(err, "f.ini:1: ", 9) == 0);
	memset(err, 'X', sizeof(err));
	cfg = config_parse_string("[bogus]\n", "a-long-path/starttlsd.ini", err, sizeof(err));
	CHECK(cfg == NULL);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	config_free(NULL);
}

static void
test_load(void)
{
	char path[] = "/tmp/starttlsd-test-config-XXXXXX";
	char err[512], want[600];
	struct config *cfg;
	int fd = mkstemp(path);
	FILE *f;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	fputs(MINIMAL "idle_timeout = 7s\n", f);
	fclose(f);
	cfg = config_load(path, err, sizeof(err));
	CHECK(cfg != NULL && strcmp(cfg->path, path) == 0 && cfg->listeners[0].idle_timeout_ms == 7000);
	config_free(cfg);

	/* Errors carry the path given. */
	f = fopen(path, "w");
	fputs(MINIMAL "idle_timeout = never\n", f);
	fclose(f);
	CHECK(config_load(path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s:7: idle_timeout = 'never': is not a duration (examples: 500ms, 30s, 5m, 1h, "
	    "7d)", path);
	CHECK_STR(err, want);

	/* A NUL byte: not a text file. */
	f = fopen(path, "w");
	fwrite("[global]\n\0\n", 1, 11, f);
	fclose(f);
	CHECK(config_load(path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s: contains a NUL byte: not a text file", path);
	CHECK_STR(err, want);

	unlink(path);
	CHECK(config_load(path, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "%s: cannot open: ", path);
	CHECK(strncmp(err, want, strlen(want)) == 0);
}

/*
 * config_read.c tracks the current section itself (maybe_section() in its
 * line reader) instead of trusting inih; wherever the two disagree, keys
 * land in the wrong section: a UTF-8 byte order mark on line 1, indented
 * lines (inih's multi-line values), other white space before "[".
 */
static void
test_section_tracking(void)
{
	char err[512];
	struct config *cfg;

	/* A UTF-8 BOM (as some editors write) must not hide the first section header. */
	cfg = parse("\xEF\xBB\xBF[global]\nworkers = 2\n" MINIMAL, err, sizeof(err));
	CHECK(cfg != NULL || (fprintf(stderr, "  BOM config refused: %s\n", err), 0));
	if (cfg != NULL)
		CHECK(cfg->workers == 2);
	config_free(cfg);

	/*
	 * "  [listener b]" after a key is, for inih, the continuation value of
	 * that key (hostname); it must not both start [listener b] and be
	 * stored as listener b's hostname.
	 */
	cfg = parse(MINIMAL "hostname = mx.example\n  [listener b]\nlisten = 127.0.0.1:26\nbackend = 127.0.0.1:2525\n",
	    err, sizeof(err));
	if (cfg != NULL) {
		size_t i;
		for (i = 0; i < cfg->nlisteners; i++) {
			if (strcmp(cfg->listeners[i].hostname, "[listener b]") == 0)
				fprintf(stderr, "  [listener %s] got hostname '[listener b]' from an indented header\n",
				    cfg->listeners[i].name);
			CHECK(strcmp(cfg->listeners[i].hostname, "[listener b]") != 0);
		}
	}
	config_free(cfg);

	/*
	 * inih skips any isspace() byte before "[" (so "\v[listener b]" is a
	 * section header for it), maybe_section() only ' ' and '\t': the keys
	 * of [listener b] would silently land in [listener a].
	 */
	{
		static const char *const lead[] = { "\v", "\f", "\r" };
		size_t i;
		for (i = 0; i < sizeof(lead) / sizeof(lead[0]); i++) {
			char text[512];
			snprintf(text, sizeof(text), MINIMAL "hostname = a.example\n%s[listener b]\n"
			    "idle_timeout = 1s\n", lead[i]);
			cfg = parse(text, err, sizeof(err));
			if (cfg != NULL) {
				int ok = cfg->listeners[0].idle_timeout_ms != 1000;
				if (!ok)
					fprintf(stderr, "  [listener b] key (after \\x%02x) applied to [listener a]\n",
					    (unsigned char)lead[i][0]);
				CHECK(ok);
			}
			config_free(cfg);
		}
	}
}

/*
 * set_ip() (source_address =) copies an unbracketed value of up to 65
 * bytes plus its NUL into char host[64]: a stack buffer overflow that
 * AddressSanitizer reports (STARTTLSD_SANITIZE=ON); without it the bytes
 * past host[] are silently overwritten. The value must simply be refused.
 */
static void
test_source_address_overflow(void)
{
	char text[512], want[512], v[66];

	memset(v, '1', 65);
	v[65] = '\0';
	snprintf(text, sizeof(text), MINIMAL "source_address = %s\n", v);
	snprintf(want, sizeof(want), PATH ":7: source_address = '%s': ", v);
	expect_error_prefix(__LINE__, text, want);
	v[64] = '\0';
	snprintf(text, sizeof(text), MINIMAL "source_address = %s\n", v);
	snprintf(want, sizeof(want), PATH ":7: source_address = '%s': ", v);
	expect_error_prefix(__LINE__, text, want);
}

/* backend = name:port and source_address = name (issue 8: compose and Kubernetes service names). */
static void
test_hostnames(void)
{
	static const struct {
		const char *s, *host;
		int port;
	} good[] = {
		{ "mta:25", "mta", 25 },
		{ "[mta.internal]:2525", "mta.internal", 2525 },
		{ "mail-1.example.org:10025", "mail-1.example.org", 10025 },
		{ "legacy_mta:25", "legacy_mta", 25 },
		{ "localhost:65535", "localhost", 65535 },
	};
	static const char *const bad[] = { "mta", "mta:", "mta:0", "mta:65536", "mta:25x", ":25", "[mta]25",
		"[mta:25", "-mta:25", ".mta:25", "m ta:25", "mta;x:25", "1234:25", "m\xc3\xa9l:25", "mta:+25" };
	struct sockaddr_storage ss;
	struct config *cfg;
	char host[254], err[512];
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(config_parse_hostport(good[i].s, host, sizeof(host), &port, &ss) == 0 ||
		    (fprintf(stderr, "  [%s] refused\n", good[i].s), 0));
		CHECK_STR(host, good[i].host);
		CHECK(port == good[i].port && ss.ss_family == 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(config_parse_hostport(bad[i], host, sizeof(host), &port, &ss) == -1 ||
		    (fprintf(stderr, "  bad [%s] accepted\n", bad[i]), 0));
	/* An address stays an address. */
	CHECK(config_parse_hostport("[::1]:26", host, sizeof(host), &port, &ss) == 0 && host[0] == '\0' &&
	    port == 26 && is_v6(&ss, "::1", 26));

	cfg = parse(TLS3 "[listener a]\nlisten = 127.0.0.1:25\nbackend = mta:2525\nsource_address = gw.internal\n",
	    err, sizeof(err));
	CHECK(cfg != NULL && cfg->listeners[0].backend.host != NULL && cfg->listeners[0].backend.port == 2525);
	CHECK(cfg != NULL && strcmp(cfg->listeners[0].backend.host, "mta") == 0 &&
	    strcmp(cfg->listeners[0].source_address.host, "gw.internal") == 0);
	config_free(cfg);
	expect_error(__LINE__, TLS3 "[listener a]\nlisten = 127.0.0.1:25\nbackend = mta\n",
	    PATH ":6: backend = 'mta': is not an address or host name with a port (a.b.c.d:port, [ipv6]:port, "
		 "name:port)");
	expect_error(__LINE__, MINIMAL "source_address = gw:25\n",
	    PATH ":7: source_address = 'gw:25': is not an IP address or a host name");
}

/* workers = auto: a cgroup v2 CPU quota caps the count. */
static void
test_cpus(void)
{
	CHECK(cpus_from_cpu_max("max 100000\n") == 0);
	CHECK(cpus_from_cpu_max("100000 100000\n") == 1);
	CHECK(cpus_from_cpu_max("150000 100000\n") == 2);
	CHECK(cpus_from_cpu_max("50000 100000") == 1);
	CHECK(cpus_from_cpu_max("") == 0 && cpus_from_cpu_max("x 1") == 0 && cpus_from_cpu_max("100 0") == 0);
	CHECK(cpus_available() >= 1 && cpus_available() <= sysconf(_SC_NPROCESSORS_ONLN));
}

/* Settings that parse but cannot work: -t must refuse them, saying why. */
static void
test_unworkable(void)
{
	static const char *const deadlines[] = { "connect_timeout", "handshake_timeout", "idle_timeout",
		"data_timeout" };
	char text[512], want[512];
	size_t i;

	for (i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL "%s = 0\n", deadlines[i]);
		snprintf(want, sizeof(want), PATH ":7: %s = '0': must be more than 0 (a deadline of 0 expires at once)",
		    deadlines[i]);
		expect_error(__LINE__, text, want);
		snprintf(text, sizeof(text), MINIMAL "%s = 0ms\n", deadlines[i]);
		expect_error_prefix(__LINE__, text, PATH ":7: ");
	}
	/* A backend that is a listener of ours: a loop through ourselves. */
	expect_error(__LINE__, TLS3 "[listener a]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:25\n",
	    PATH ":6: backend 127.0.0.1:25 is the listen address of [listener a]: starttlsd would connect to "
	    "itself in a loop");
	expect_error_prefix(__LINE__, TLS3 "[listener a]\nlisten = 0.0.0.0:25\nbackend = 127.0.0.2:25\n",
	    PATH ":6: backend 127.0.0.2:25 is the listen address of [listener a]");
	expect_error_prefix(__LINE__, TLS3 "[listener a]\nlisten = [::]:25\nbackend = [::1]:25\n",
	    PATH ":6: backend [::1]:25 is the listen address of [listener a]");
	expect_error_prefix(__LINE__, MINIMAL "[listener b]\nlisten = 127.0.0.1:26\nbackend = 127.0.0.1:25\n",
	    PATH ":9: backend 127.0.0.1:25 is the listen address of [listener a]");
	{
		char err[512];
		struct config *cfg = parse(TLS3 "[listener a]\nlisten = 0.0.0.0:25\nbackend = 127.0.0.1:2525\n", err,
		    sizeof(err));
		CHECK(cfg != NULL);	/* another port of the same host is fine */
		config_free(cfg);
	}
	/* source_address must be of the backend's family. */
	expect_error(__LINE__, MINIMAL "source_address = ::1\n",
	    PATH ":7: source_address is IPv6 but backend 127.0.0.1:2525 is IPv4: they must be of the same address "
	    "family");
	/* accept_proxy with a list that names nobody. */
	expect_error(__LINE__, MINIMAL "accept_proxy = yes\nproxy_trusted = , ,\n",
	    PATH ":8: proxy_trusted lists no address: with accept_proxy = yes it must name the load balancers "
	    "allowed to send PROXY headers");
	/* Session lifetimes BoringSSL would silently cut. */
	expect_error_prefix(__LINE__, "[tls]\ncertificate = c\nkey = k\nsession_lifetime = 8d\n" LISTENER_A,
	    PATH ":4: session_lifetime = '8d': ");
	expect_error_prefix(__LINE__, "[tls]\ncertificate = c\nkey = k\nsession_lifetime = 169h\n" LISTENER_A,
	    PATH ":4: session_lifetime = '169h': must be from 1s to 7d (168h)");
	expect_error_prefix(__LINE__, "[tls]\ncertificate = c\nkey = k\nsession_lifetime = 0\n" LISTENER_A,
	    PATH ":4: session_lifetime = '0': must be from 1s to 7d");
	{
		char err[512];
		struct config *cfg = parse("[tls]\ncertificate = c\nkey = k\nsession_lifetime = 168h\n" LISTENER_A,
		    err, sizeof(err));
		CHECK(cfg != NULL && cfg->tls.session_lifetime_ms == 7ULL * 24 * 3600 * 1000);
		config_free(cfg);
	}
	/* Text line limits that a wrapping backend could turn into an end of data. */
	expect_error_prefix(__LINE__, MINIMAL "max_data_line_length = 0\n",
	    PATH ":7: max_data_line_length = '0': must be from 80 to 1000 (bytes, CRLF included; RFC 5321 "
	    "4.5.3.1.6): a backend that wraps longer lines at 998 or 1000 octets");
	expect_error_prefix(__LINE__, MINIMAL "max_data_line_length = 1001\n",
	    PATH ":7: max_data_line_length = '1001': must be from 80 to 1000");
	expect_error_prefix(__LINE__, MINIMAL "max_data_line_length = 1m\n",
	    PATH ":7: max_data_line_length = '1m': must be from 80 to 1000");
}

int
main(void)
{
	test_unworkable();
	test_full();
	test_defaults();
	test_syntax();
	test_durations();
	test_sizes();
	test_addresses();
	test_errors();
	test_err_buffer();
	test_load();
	test_section_tracking();
	test_source_address_overflow();
	test_hostnames();
	test_cpus();
	return check_done("test_config");
}

/* test_config_dump.c - unit tests for starttlsd -T (config_dump() in proxy/config.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "cpus.h"

#define PATH "conf/starttlsd.ini"

/* A [tls] section and one complete listener. */
#define TLS3 "[tls]\ncertificate = /etc/ssl/chain.pem\nkey = /etc/ssl/key.pem\n"
#define LISTENER_A "[listener a]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:2525\n"
#define MINIMAL TLS3 LISTENER_A

static struct config *
parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return config_parse_string(text, PATH, err, errlen);
}

/* -T: the first line of every dump of a file read as PATH. */
#define DUMP_HEADER "; " PATH ": the effective configuration (starttlsd -T), every default filled in\n"

/* cfg as config_dump() prints it; the caller frees it. */
static char *
dump(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f != NULL && config_dump(cfg, f) == 0);
	if (f != NULL)
		fclose(f);
	return text;
}

/* Two strings, or two NULLs, are equal; the copies they came from forget them. */
static int
same_str(char **a, char **b)
{
	int eq = *a == NULL ? *b == NULL : *b != NULL && strcmp(*a, *b) == 0;

	*a = *b = NULL;
	return eq;
}

/*
 * Two TLS sections hold the same values: their strings, then every other
 * field of copies without their line numbers (memcmp: a field added later is compared too).
 */
static int
same_tls(const struct tls_conf *x, const struct tls_conf *y)
{
	struct tls_conf c[2];
	int eq = 1, i;

	memcpy(&c[0], x, sizeof(*x));
	memcpy(&c[1], y, sizeof(*y));
	eq &= same_str(&c[0].name, &c[1].name) & same_str(&c[0].certificate, &c[1].certificate);
	eq &= same_str(&c[0].key, &c[1].key) & same_str(&c[0].server_names, &c[1].server_names);
	eq &= same_str(&c[0].ciphers, &c[1].ciphers) & same_str(&c[0].groups, &c[1].groups);
	eq &= same_str(&c[0].ticket_key_file, &c[1].ticket_key_file) & same_str(&c[0].ca_file, &c[1].ca_file);
	for (i = 0; i < 2; i++)
		c[i].line = c[i].certificate_line = c[i].key_line = c[i].server_names_line = c[i].ciphers_line =
		    c[i].groups_line = c[i].ticket_key_file_line = c[i].session_lifetime_line = c[i].ca_file_line = 0;
	return eq && memcmp(&c[0], &c[1], sizeof(c[0])) == 0;
}

/* Two parsed CIDR lists are the same. */
static int
same_cidrs(const struct cidr_list *x, const struct cidr_list *y)
{
	return x->n == y->n && (x->n == 0 || memcmp(x->v, y->v, x->n * sizeof(*x->v)) == 0);
}

/* Two listeners hold the same values (as same_tls()). */
static int
same_listener(const struct listener_conf *x, const struct listener_conf *y)
{
	struct listener_conf c[2];
	int eq = 1, i;

	memcpy(&c[0], x, sizeof(*x));
	memcpy(&c[1], y, sizeof(*y));
	eq &= same_str(&c[0].name, &c[1].name) & same_str(&c[0].hostname, &c[1].hostname);
	eq &= same_str(&c[0].backend.host, &c[1].backend.host) & same_str(&c[0].proxy_trusted, &c[1].proxy_trusted);
	eq &= same_str(&c[0].source_address.host, &c[1].source_address.host);
	eq &= same_str(&c[0].allow, &c[1].allow) & same_str(&c[0].backend_ca_file, &c[1].backend_ca_file);
	eq &= same_str(&c[0].backend_server_name, &c[1].backend_server_name);
	eq &= same_str(&c[0].backend_auth, &c[1].backend_auth);
	eq &= same_cidrs(&x->trusted, &y->trusted) & same_cidrs(&x->allowed, &y->allowed);
	for (i = 0; i < 2; i++) {
		c[i].line = c[i].listen_line = c[i].backend_line = 0;
		c[i].source_address_line = c[i].proxy_trusted_line = 0;
		c[i].allow_line = c[i].backend_ca_file_line = c[i].backend_auth_line = 0;
		c[i].trusted.v = c[i].allowed.v = NULL;
	}
	return eq && memcmp(&c[0], &c[1], sizeof(c[0])) == 0;
}

/* Two configurations hold the same values: [global] (as same_tls()), then each section. */
static int
same_config(const struct config *x, const struct config *y)
{
	struct config c[2];
	int eq = 1, i;
	size_t j;

	memcpy(&c[0], x, sizeof(*x));
	memcpy(&c[1], y, sizeof(*y));
	eq &= same_str(&c[0].path, &c[1].path) & same_str(&c[0].syslog_socket, &c[1].syslog_socket);
	eq &= same_str(&c[0].user, &c[1].user) & same_str(&c[0].group, &c[1].group);
	eq &= same_str(&c[0].chroot, &c[1].chroot) & same_tls(&x->tls, &y->tls);
	for (j = 0; eq && x->nnamed_tls == y->nnamed_tls && j < x->nnamed_tls; j++)
		eq &= same_tls(&x->named_tls[j], &y->named_tls[j]);
	for (j = 0; eq && x->nlisteners == y->nlisteners && j < x->nlisteners; j++)
		eq &= same_listener(&x->listeners[j], &y->listeners[j]);
	for (i = 0; i < 2; i++) {
		memset(&c[i].tls, 0, sizeof(c[i].tls));
		c[i].named_tls = NULL;
		c[i].listeners = NULL;
		c[i].metrics_line = c[i].workers_auto = 0;	/* the dump says workers = N */
	}
	return eq && memcmp(&c[0], &c[1], sizeof(c[0])) == 0;
}

/* Without its "; workers = auto: ..." line: what the dump of a dump prints. */
static void
drop_auto_note(char *d)
{
	char *s = strstr(d, "\n; workers = auto: "), *e;

	if (s != NULL && (e = strchr(s + 1, '\n')) != NULL)
		memmove(s, e, strlen(e) + 1);
}

/*
 * The dump of text parses to the same values, and its own dump is the
 * same text (but for the note that workers came from auto). Returns the first dump.
 */
static char *
round_trip(int line, const char *text, const char *path)
{
	char err[512], *d1 = NULL, *d2 = NULL, *d1n = NULL;
	struct config *a = config_parse_string(text, path, err, sizeof(err)), *b = NULL;

	if (a == NULL || (b = config_parse_string(d1 = dump(a), path, err, sizeof(err))) == NULL)
		fprintf(stderr, "test_config.c:%d: %s\n%s", line, err, d1 ? d1 : "");
	if (b != NULL && !same_config(a, b))
		fprintf(stderr, "test_config.c:%d: the dump parses to other values:\n%s", line, d1);
	CHECK(b != NULL && same_config(a, b));
	if (b != NULL) {
		d2 = dump(b);
		drop_auto_note(d1n = strdup(d1));
		CHECK_STR(d2, d1n);
	}
	free(d2);
	free(d1n);
	config_free(a);
	config_free(b);
	return d1;
}

/*
 * Every key of every section in the table's order: [global], [tls] and
 * [listener one] without a default value, named TLS sections, IPv6, host names.
 */
static const char full_dump[] =
    "\n[global]\nworkers = 3\nlog_level = debug\nlog_format = json\nlog_target = syslog\n"
    "syslog_socket = /run/log.sock\nmetrics = [::1]:9100\nshutdown_timeout = 45s\nmax_connections = 0\n"
    "user = mail\ngroup = nogroup\nchroot = /var/empty\nallow_root = yes\n"
    "\n[tls]\ncertificate = /etc/a.pem /etc/b.pem\nkey = /etc/a.key /etc/b.key\nmin_version = 1.3\n"
    "ciphers = ECDHE-ECDSA-AES128-GCM-SHA256\ngroups = X25519:P-256\nsession_tickets = no\n"
    "ticket_key_file = /etc/tickets\nsession_cache_size = 0\nsession_lifetime = 7d\nverify_client = require\n"
    "ca_file = /etc/ca.pem\nwatch = yes\n"
    "\n[tls second]\ncertificate = /etc/s.pem\nkey = /etc/s.key\nserver_names = a.example *.b.example\n"
    "\n[tls third one]\ncertificate = /etc/t.pem\nkey = /etc/t.key\nserver_names = c.example\n"
    "\n[listener one]\nlisten = 0.0.0.0:25\nbackend = 127.0.0.1:2525\ntls = implicit\nhostname = mx.example.org\n"
    "connect_timeout = 500ms\nhandshake_timeout = 20s\nidle_timeout = 2m\ndata_timeout = 1h\nsession_timeout = 0s\n"
    "max_line_length = 1k\nmax_reply_length = 1m\nmax_data_line_length = 998\nrequire_tls = yes\n"
    "auth_before_tls = allow\nbare_newline = reject\nmax_errors = 5\nmax_connections_per_ip = 0\n"
    "backend_identity = xclient\nsource_address = 127.0.0.2\nadd_received = yes\naccept_proxy = yes\n"
    "proxy_trusted = 10.0.0.0/8, 192.0.2.1\n; allow =\nbackend_tls = none\nbackend_verify = yes\n"
    "; backend_ca_file =\n; backend_server_name =\n; backend_auth =\n"
    "\n[listener two]\nlisten = [::]:465\nbackend = [::1]:10465\ntls = starttls\nhostname = two.example\n"
    "connect_timeout = 1d\nhandshake_timeout = 1s\nidle_timeout = 90s\ndata_timeout = 25h\nsession_timeout = 2d\n"
    "max_line_length = 32k\nmax_reply_length = 512\nmax_data_line_length = 80\nrequire_tls = no\n"
    "auth_before_tls = hide\nbare_newline = normalize\nmax_errors = 0\nmax_connections_per_ip = 10000000\n"
    "backend_identity = proxy_v2\nsource_address = 2001:db8::1\nadd_received = no\naccept_proxy = no\n"
    "proxy_trusted = ::1\nallow = ::1, 2001:db8::/32\nbackend_tls = none\nbackend_verify = yes\n"
    "; backend_ca_file =\n; backend_server_name =\n; backend_auth =\n"
    "\n[listener three]\nlisten = 127.0.0.1:587\nbackend = mta:25\ntls = starttls\nhostname = three\n"
    "connect_timeout = 1500ms\nhandshake_timeout = 30s\nidle_timeout = 5m\ndata_timeout = 10m\n"
    "session_timeout = 1h\nmax_line_length = 1000\nmax_reply_length = 2k\nmax_data_line_length = 1000\n"
    "require_tls = no\nauth_before_tls = hide\nbare_newline = normalize\nmax_errors = 20\n"
    "max_connections_per_ip = 50\nbackend_identity = none\nsource_address = gw.example\nadd_received = no\n"
    "accept_proxy = no\n; proxy_trusted =\nallow = 127.0.0.1\nbackend_tls = starttls\nbackend_verify = yes\n"
    "backend_ca_file = /etc/relay-ca.pem\nbackend_server_name = relay.example\nbackend_auth = /etc/relay.secret\n";

/* -T prints every key, in the table's order, each value as the parser takes it (a key dropped fails here). */
static void
test_dump_full(void)
{
	char err[512], want[sizeof(full_dump) + 100], *d;
	struct config *cfg = parse(full_dump, err, sizeof(err));

	CHECK(cfg != NULL || (fprintf(stderr, "  %s\n", err), 0));
	if (cfg == NULL)
		return;
	d = dump(cfg);
	snprintf(want, sizeof(want), "%s%s", DUMP_HEADER, full_dump);
	CHECK_STR(d, want);
	free(d);
	config_free(cfg);
	free(round_trip(__LINE__, full_dump, PATH));
}

/* The defaults, workers from auto and the host's name, unset keys as comments. */
static void
test_dump_defaults(void)
{
	char *d = round_trip(__LINE__, MINIMAL, PATH), want[600];
	int n = cpus_available() > 256 ? 256 : cpus_available();

	if (d == NULL)
		return;
	snprintf(want, sizeof(want), "\n[global]\n; workers = auto: %d, the CPUs this process may use\nworkers = %d\n"
	    "log_level = info\nlog_format = text\nlog_target = stderr\nsyslog_socket = /dev/log\n; metrics =\n"
	    "shutdown_timeout = 30s\nmax_connections = 10000\n; user =\n; group =\n; chroot =\nallow_root = no\n"
	    "\n[tls]\ncertificate = /etc/ssl/chain.pem\nkey = /etc/ssl/key.pem\n", n, n);
	CHECK(strstr(d, want) != NULL);
	CHECK(strstr(d, "\nmin_version = 1.2\n; ciphers =\n; groups =\nsession_tickets = yes\n; ticket_key_file =\n"
	    "session_cache_size = 20k\nsession_lifetime = 2h\nverify_client = none\n; ca_file =\nwatch = no\n"));
	gethostname(want, sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	CHECK(strstr(d, "\ntls = starttls\nhostname = ") != NULL && strstr(d, want) != NULL);
	CHECK(strstr(d, "\nconnect_timeout = 10s\nhandshake_timeout = 30s\nidle_timeout = 5m\ndata_timeout = 10m\n"
	    "session_timeout = 1h\nmax_line_length = 512\nmax_reply_length = 64k\nmax_data_line_length = 1000\n"));
	CHECK(strstr(d, "\n; source_address =\nadd_received = no\naccept_proxy = no\n; proxy_trusted =\n") != NULL);
	free(d);
}

/* Values written otherwise are shown in the parser's own terms, and read back the same. */
static void
test_dump_values(void)
{
	static const char *const want[] = { "\nconnect_timeout = 90s\n", "\nidle_timeout = 2h\n",
		"\ndata_timeout = 1500ms\n", "\nsession_timeout = 0s\n", "\nmax_reply_length = 2k\n",
		"\nmax_line_length = 1000\n", "\nsession_cache_size = 1m\n", "\nsession_lifetime = 1d\n",
		"\nlisten = [::0]:25\n", "\nsource_address = ::1\n", "\n[listener b  ]\n" };
	char *d = round_trip(__LINE__, "[tls]\ncertificate = c\nkey = k\nsession_cache_size = 1024K\n"
	    "session_lifetime = 86400s\n[listener a]\nlisten=[::0]:25\nbackend=[::1]:26\nconnect_timeout=90000ms\n"
	    "idle_timeout = 7200\ndata_timeout = 1500ms\nsession_timeout = 0\nmax_reply_length = 2048\n"
	    "max_line_length = 1000\nsource_address = [0::1]\n[listener   b  ]\nlisten = 127.0.0.1:25\n"
	    "backend = 127.0.0.1:26\n", PATH);
	size_t i;

	for (i = 0; d != NULL && i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(strstr(d, want[i]) != NULL || (fprintf(stderr, "  no [%s]\n", want[i]), 0));
	free(d);
}

/* Lines the reader would take otherwise: a value that starts with ';', the longest lines, a long path. */
static void
test_dump_edges(void)
{
	char text[600], path[400], name[200], *d;

	memset(name, 'c', sizeof(name));
	name[0] = '/';
	name[198 - strlen("certificate=")] = '\0';	/* the longest line read: 198 bytes; 200 with spaces */
	snprintf(text, sizeof(text), "[global]\nuser=;odd\n[tls]\ncertificate=%s\nkey = k\n" LISTENER_A, name);
	d = round_trip(__LINE__, text, PATH);
	CHECK(d != NULL && strstr(d, "\nuser=;odd\n") != NULL && strstr(d, "\ncertificate=/ccc") != NULL);
	free(d);
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	path[10] = '\n';
	d = round_trip(__LINE__, MINIMAL, path);
	CHECK(d != NULL && strncmp(d, "; ...ppp", 8) == 0 && strchr(d, '\n') - d == 198);
	free(d);
}

int
main(void)
{
	test_dump_full();
	test_dump_defaults();
	test_dump_values();
	test_dump_edges();
	return check_done("test_config_dump");
}

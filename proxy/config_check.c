/*
 * config_check.c - the checks of a whole parsed configuration, and the
 * defaults that need it; see config_check.h.
 */
#include "config_check.h"
#include "config.h"
#include "cpus.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One check: the configuration, and where its error goes. */
struct check {
	struct config *cfg;
	int lastline;		/* the text's last line */
	char *err;
	size_t errlen;
};

void
config_verror(char *err, size_t errlen, const char *path, int line, const char *fmt, va_list ap)
{
	int n;

	n = snprintf(err, errlen, "%s:%d: ", path, line);
	if (n < 0 || (size_t)n >= errlen)
		return;
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

static int fail(struct check *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Report "PATH:LINE: message"; returns 0, as the checks do when they fail. */
static int
fail(struct check *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_verror(p->err, p->errlen, p->cfg->path, line, fmt, ap);
	va_end(ap);
	return 0;
}

static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr,
		           4) == 0 &&
		    ((const struct sockaddr_in *)a)->sin_port == ((const struct sockaddr_in *)b)->sin_port;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
	           16) == 0 &&
	    ((const struct sockaddr_in6 *)a)->sin6_port == ((const struct sockaddr_in6 *)b)->sin6_port;
}

static int
port_of(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)a)->sin_port)
	                               : ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
}

/* Is a an address any socket on this host listens on when bound to the wildcard? */
static int
is_local(const struct sockaddr_storage *a)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (a->ss_family == AF_INET && (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127)
		return 1;
	if (a->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr))
		return 1;
	if (getifaddrs(&ifs) != 0)
		return 0;
	for (i = ifs; i != NULL && !found; i = i->ifa_next) {
		struct sockaddr_storage ss;
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != a->ss_family)
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, i->ifa_addr,
		    a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		if (a->ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = ((const struct sockaddr_in *)a)->sin_port;
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = ((const struct sockaddr_in6 *)a)->sin6_port;
		found = same_addr(&ss, a);
	}
	freeifaddrs(ifs);
	return found;
}

/* Would connecting to backend reach the listener bound at listen? */
static int
reaches(const struct sockaddr_storage *backend, const struct sockaddr_storage *listen)
{
	int wildcard;

	if (backend->ss_family != listen->ss_family || port_of(backend) != port_of(listen))
		return 0;
	if (same_addr(backend, listen))
		return 1;
	wildcard = listen->ss_family == AF_INET
	    ? ((const struct sockaddr_in *)listen)->sin_addr.s_addr == htonl(INADDR_ANY)
	    : IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)listen)->sin6_addr);
	return wildcard && is_local(backend);
}

/* allow, tls = none and the backend_* keys of TLS toward the backend. */
static int
check_outbound(struct check *p, struct listener_conf *lc)
{
	char why[200];

	if (lc->allow != NULL) {
		if (cidr_list_parse(lc->allow, &lc->allowed, why, sizeof(why)) != 0)
			return fail(p, lc->allow_line, "allow: %s", why);
		if (lc->allowed.n == 0)
			return fail(p, lc->allow_line, "allow lists no address: nobody could connect");
	}
	if (lc->tls == TLS_MODE_NONE && lc->allow == NULL)
		return fail(p, lc->line, "[listener %s] has tls = none (plaintext) but no allow: a plaintext listener "
		    "must name the senders allowed to use it", lc->name);
	if (lc->backend_tls == BACKEND_TLS_NONE) {
		if (lc->backend_ca_file != NULL || lc->backend_server_name != NULL || lc->backend_auth != NULL ||
		    !lc->backend_verify)
			return fail(p, lc->line, "[listener %s] sets backend_verify, backend_ca_file, backend_server_name "
			    "or backend_auth without backend_tls", lc->name);
		return 1;
	}
	if (lc->backend_identity != IDENTITY_NONE)
		return fail(p, lc->line, "[listener %s]: backend_identity does not go with backend_tls (an upstream "
		    "relay does not trust us to name clients)", lc->name);
	if (lc->backend_server_name == NULL && lc->backend.host == NULL && lc->backend_verify)
		return fail(p, lc->backend_line, "backend %s is an address: with backend_tls and backend_verify, set "
		    "backend_server_name to the name its certificate must carry", lc->backend_str);
	return 1;
}

/* Checks of one listener that need more than one key. */
static int
validate_listener(struct check *p, struct listener_conf *lc)
{
	struct config *cfg = p->cfg;
	size_t j;

	for (j = 0; j < cfg->nlisteners; j++)
		if (lc->backend.host == NULL && reaches(&lc->backend.addr, &cfg->listeners[j].listen))
			return fail(p, lc->backend_line, "backend %s is the listen address of [listener %s]: "
			    "starttlsd would connect to itself in a loop", lc->backend_str, cfg->listeners[j].name);
	if (lc->source_address.addr.ss_family != 0 && lc->backend.host == NULL &&
	    lc->source_address.addr.ss_family != lc->backend.addr.ss_family)
		return fail(p, lc->source_address_line, "source_address is %s but backend %s is %s: they must be "
		    "of the same address family", lc->source_address.addr.ss_family == AF_INET ? "IPv4" : "IPv6",
		    lc->backend_str, lc->backend.addr.ss_family == AF_INET ? "IPv4" : "IPv6");
	if (!check_outbound(p, lc))
		return 0;
	if (lc->proxy_trusted != NULL) {
		char why[200];
		if (cidr_list_parse(lc->proxy_trusted, &lc->trusted, why, sizeof(why)) != 0)
			return fail(p, lc->proxy_trusted_line, "proxy_trusted: %s", why);
		if (lc->accept_proxy && lc->trusted.n == 0)
			return fail(p, lc->proxy_trusted_line, "proxy_trusted lists no address: with accept_proxy = "
			    "yes it must name the load balancers allowed to send PROXY headers");
	}
	return 1;
}

/* Number of space-separated words in s. */
static size_t
count_words(const char *s)
{
	size_t n = 0;

	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		n++;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	return n;
}

static int
validate_tls(struct check *p, const struct tls_conf *tc)
{
	char sec[140];
	size_t nc, nk;

	snprintf(sec, sizeof(sec), tc->name ? "[tls %s]" : "[tls]", tc->name);
	if (tc->certificate == NULL)
		return fail(p, tc->line, "%s has no 'certificate'", sec);
	if (tc->key == NULL)
		return fail(p, tc->line, "%s has no 'key'", sec);
	nc = count_words(tc->certificate);
	nk = count_words(tc->key);
	if (nc != nk)
		return fail(p, tc->key_line, "%s lists %zu certificate(s) but %zu key(s): give one key per certificate",
		    sec, nc, nk);
	if (nc > 4)
		return fail(p, tc->certificate_line, "%s: at most 4 certificates (e.g. one ECDSA and one RSA)", sec);
	if (tc->name != NULL && tc->server_names == NULL)
		return fail(p, tc->line, "%s has no 'server_names'", sec);
	return 1;
}

/* hostname = the host's name, or localhost if it has none. */
static int
default_hostname(struct check *p, struct listener_conf *lc)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if ((lc->hostname = strdup(host)) == NULL)
		return fail(p, lc->line, "out of memory");
	return 1;
}

/* The keys listener i needs, its listen address not taken by those before it; its default hostname. */
static int
listener_complete(struct check *p, size_t i)
{
	struct config *cfg = p->cfg;
	struct listener_conf *lc = &cfg->listeners[i];
	size_t j;

	if (lc->listen.ss_family == 0)
		return fail(p, lc->line, "[listener %s] has no 'listen' address", lc->name);
	if (lc->backend.addr.ss_family == 0 && lc->backend.host == NULL)
		return fail(p, lc->line, "[listener %s] has no 'backend' address", lc->name);
	if (!cfg->tls.present && lc->tls != TLS_MODE_NONE)
		return fail(p, lc->line, "[listener %s] uses tls = %s but there is no [tls] section",
		    lc->name, config_tls_mode_name(lc->tls));
	for (j = 0; j < i; j++)
		if (same_addr(&lc->listen, &cfg->listeners[j].listen))
			return fail(p, lc->listen_line, "listen address %s is already used by [listener %s]",
			    lc->listen_str, cfg->listeners[j].name);
	if (lc->accept_proxy && lc->proxy_trusted == NULL)
		return fail(p, lc->line, "[listener %s] has accept_proxy = yes but no proxy_trusted", lc->name);
	if (cfg->metrics.ss_family != 0 && same_addr(&lc->listen, &cfg->metrics))
		return fail(p, cfg->metrics_line, "metrics address %s is the listen address of [listener %s]",
		    cfg->metrics_str, lc->name);
	return lc->hostname != NULL || default_hostname(p, lc);
}

/* Checks that need the whole file: required keys, duplicates, defaults. */
static int
validate(struct check *p)
{
	struct config *cfg = p->cfg;
	size_t i;

	if (cfg->nlisteners == 0)
		return fail(p, p->lastline ? p->lastline : 1, "no [listener NAME] section: nothing to do");
	for (i = 0; i < cfg->nlisteners; i++)
		if (!listener_complete(p, i))
			return 0;
	for (i = 0; i < cfg->nlisteners; i++)
		if (!validate_listener(p, &cfg->listeners[i]))
			return 0;
	if (cfg->tls.present && !validate_tls(p, &cfg->tls))
		return 0;
	for (i = 0; i < cfg->nnamed_tls; i++)
		if (!validate_tls(p, &cfg->named_tls[i]))
			return 0;
	if (cfg->tls.verify_client != VERIFY_NONE && cfg->tls.ca_file == NULL)
		return fail(p, cfg->tls.line, "verify_client needs ca_file (the CAs that sign client certificates)");
	if (cfg->group != NULL && cfg->user == NULL)
		return fail(p, 1, "group is set but user is not");
	if (cfg->workers == 0) {
		int n = cpus_available();
		cfg->workers = n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : n;
		cfg->workers_auto = 1;
	}
	return 1;
}

int
config_check(struct config *cfg, int lastline, char *err, size_t errlen)
{
	struct check c = { cfg, lastline, err, errlen };

	return validate(&c) ? 0 : -1;
}

/* log_json.c - key=value lines as JSON objects; see log_json.h. */
#include "log_json.h"

#include <string.h>

/* Room-checked output. */
struct out {
	char *p;
	size_t len, cap;	/* cap leaves room for the closing "}" and the NUL */
	int full;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->len + n > o->cap) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* One byte of a value as JSON string content. */
static void
put_char(struct out *o, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = { '\\', 'u', '0', '0', 0, 0 };

	if (c == '"' || c == '\\') {
		e[1] = (char)c;
		put(o, e, 2);
	} else if (c < 0x20 || c >= 0x7f) {
		e[4] = hex[c >> 4];
		e[5] = hex[c & 15];
		put(o, e, 6);
	} else {
		put(o, (const char *)&c, 1);
	}
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A value at s (bare up to a space, or quoted); writes it, returns where it ends. */
static const char *
put_value(struct out *o, const char *s, const char *end)
{
	if (s < end && *s == '"') {
		for (s++; s < end && *s != '"'; s++) {
			if (*s == '\\' && s + 1 < end && (s[1] == '"' || s[1] == '\\')) {
				put_char(o, (unsigned char)*++s);
			} else if (*s == '\\' && s + 3 < end && s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
				put_char(o, (unsigned char)(hexval(s[2]) << 4 | hexval(s[3])));
				s += 3;
			} else {
				put_char(o, (unsigned char)*s);
			}
		}
		return s < end ? s + 1 : s;
	}
	for (; s < end && *s != ' '; s++)
		put_char(o, (unsigned char)*s);
	return s;
}

size_t
log_kv_to_json(const char *kv, size_t len, char *out, size_t outlen)
{
	struct out o = { out, 0, outlen - 2, 0 };
	const char *s = kv, *end = kv + len;
	size_t keep;

	put(&o, "{", 1);
	while (s < end && !o.full) {
		while (s < end && *s == ' ')
			s++;
		if (s == end)
			break;
		keep = o.len;
		if (keep > 1)
			put(&o, ",", 1);
		put(&o, "\"", 1);
		for (; s < end && *s != '=' && *s != ' '; s++)
			put_char(&o, (unsigned char)*s);
		put(&o, "\":\"", 3);
		if (s < end && *s == '=')
			s = put_value(&o, s + 1, end);
		put(&o, "\"", 1);
		if (o.full)
			o.len = keep;	/* drop the member that did not fit */
	}
	out[o.len++] = '}';
	out[o.len] = '\0';
	return o.len;
}

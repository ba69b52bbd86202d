/*
 * smtp.h - SMTP command and reply line parsing (RFC 5321). Pure: no I/O,
 * no allocation, so unit tests and fuzzers call it directly.
 */
#ifndef STARTTLSD_SMTP_H
#define STARTTLSD_SMTP_H

#include <stddef.h>

/* The verbs starttlsd knows; everything else is SMTP_OTHER (and refused). */
enum smtp_verb {
	SMTP_OTHER = 0,
	SMTP_HELO,
	SMTP_EHLO,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,
	SMTP_BDAT,
	SMTP_RSET,
	SMTP_NOOP,
	SMTP_QUIT,
	SMTP_STARTTLS,
	SMTP_AUTH,
	SMTP_XCLIENT,
	SMTP_XFORWARD,
	SMTP_PROXY,
	SMTP_VRFY,
	SMTP_EXPN,
	SMTP_HELP,
	SMTP_ETRN,
};

/* A parsed command line (pointers into the caller's line). */
struct smtp_cmd {
	enum smtp_verb verb;
	const char *args;	/* after the verb and its separating spaces */
	size_t argslen;		/* trailing spaces removed */
};

/*
 * Find the end of the first line in p[0..len): returns the length of the
 * line including its LF, or 0 if there is no LF yet. *termlen receives the
 * length of the terminator (2 for CRLF, 1 for a bare LF).
 */
size_t smtp_line_len(const char *p, size_t len, size_t *termlen);

/*
 * Parse a command line given without its line terminator. Verbs are
 * matched case-insensitively and must be followed by a space or the end of
 * the line. Returns 0, or -1 if the line is empty.
 */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd);

/* The upper-case name of a verb, for logs ("OTHER" for SMTP_OTHER). */
const char *smtp_verb_name(enum smtp_verb verb);

/*
 * Returns 1 if the line (without terminator) holds a byte that must never
 * reach the backend inside a command: any control byte (CR, LF, NUL, TAB,
 * ... 0x00-0x1f and 0x7f). A TAB after a verb would otherwise let a
 * command the proxy refuses ("XCLIENT<TAB>...") look like an unknown one
 * to us and a valid one to the backend. 0 otherwise.
 */
int smtp_line_has_ctl(const char *line, size_t len);

/* A parsed reply line. */
struct smtp_reply_line {
	int code;		/* 200..599 */
	int last;		/* 1 if "ddd " or "ddd" (final line of a reply) */
	const char *text;	/* after the separator */
	size_t textlen;
};

/*
 * Parse a reply line given without its line terminator: three digits, the
 * first 2-5, then '-', ' ' or nothing. Returns 0, or -1 if malformed.
 */
int smtp_reply_parse(const char *line, size_t len, struct smtp_reply_line *r);

/*
 * Find the first complete reply in p[0..len): every line ending in LF,
 * the last one with a space (or nothing) after its code, all with the
 * same code. Returns the reply's length in bytes, 0 if more bytes are
 * needed, or -1 if the bytes are not a well-formed reply (bad line,
 * codes that differ, or a line longer than maxline).
 */
long smtp_reply_len(const char *p, size_t len, size_t maxline, int *code);

/* Case-insensitive comparison of p[0..n) with the NUL-terminated word. */
int smtp_word_eq(const char *p, size_t n, const char *word);

#endif

// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_report.h"

#define LINE_MAX_PARSE 1024 /* longer protocol lines are rejected */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Printable ASCII that needs no quoting in the table, JSON or gnuplot. */
static bool valid_unit(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s <= ' ' || *s >= 0x7f || *s == '"' || *s == '\'' || *s == '\\')
			return false;
	}
	return true;
}

/* Copy @src into a fixed field, failing when it does not fit. */
static int copy_field(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static void *find_text(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle));
}

static int parse_done(char *rest, unsigned int *done_tests, struct error *err)
{
	char *end;
	unsigned long n;

	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (strncmp(rest, "tests=", 6))
		return error_set(err, -EINVAL, "done line without tests=");
	rest += 6;
	if (*rest < '0' || *rest > '9')
		return error_set(err, -EINVAL, "done line: tests=%s is not a count", rest);
	errno = 0;
	n = strtoul(rest, &end, 10);
	if (errno || n > 1000000 || *end)
		return error_set(err, -EINVAL, "done line: tests=%s is not a count", rest);
	*done_tests = (unsigned int)n;
	return BENCH_LINE_DONE;
}

static int parse_value(const char *text, double *out, struct error *err)
{
	char *end;
	double v;

	if (!*text)
		return error_set(err, -EINVAL, "empty value=");
	v = strtod(text, &end);
	if (*end)
		return error_set(err, -EINVAL, "value=%s is not a number", text);
	if (!isfinite(v))
		return error_set(err, -EINVAL, "value=%s is not a finite number", text);
	if (v <= 0)
		return error_set(err, -EINVAL, "value=%s is not a positive number", text);
	*out = v;
	return 0;
}

/* The fields after the prefix: key=value words; error= takes the rest of the line. */
static int parse_result(char *rest, struct bench_result *res, struct error *err)
{
	const char *name = NULL, *value = NULL, *unit = NULL, *better = NULL, *error = NULL;
	char *tok = rest;

	memset(res, 0, sizeof(*res));
	while (*tok) {
		char *eq, *end;
		const char **slot;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		if (!*tok)
			break;
		end = tok + strcspn(tok, " \t");
		eq = memchr(tok, '=', (size_t)(end - tok));
		if (!eq) {
			*end = '\0';
			return error_set(err, -EINVAL, "'%.40s' is not a key=value field", tok);
		}
		*eq = '\0';
		if (!strcmp(tok, "error")) {
			/* Free text to the end of the line, blanks trimmed. */
			if (error)
				return error_set(err, -EINVAL, "error= given twice");
			error = eq + 1;
			while (*error == ' ' || *error == '\t')
				error++;
			break;
		}
		if (*end)
			*end++ = '\0';
		if (!strcmp(tok, "name"))
			slot = &name;
		else if (!strcmp(tok, "value"))
			slot = &value;
		else if (!strcmp(tok, "unit"))
			slot = &unit;
		else if (!strcmp(tok, "better"))
			slot = &better;
		else
			return error_set(err, -EINVAL, "unknown field '%.40s'", tok);
		if (*slot)
			return error_set(err, -EINVAL, "%s= given twice", tok);
		*slot = eq + 1;
		tok = end;
	}

	if (!name)
		return error_set(err, -EINVAL, "result line without name=");
	if (!valid_name(name) || copy_field(res->name, sizeof(res->name), name))
		return error_set(err, -EINVAL,
				 "name=%.40s is not a test id (letters, digits, _ . -; at most %d)",
				 name, BENCH_NAME_MAX - 1);
	if (error) {
		if (value || unit || better)
			return error_set(
				err, -EINVAL,
				"test %s: error= with value=, unit= or better=", res->name);
		res->failed = true;
		snprintf(res->error, sizeof(res->error), "%s",
			 *error ? error : "(no reason given)");
		return BENCH_LINE_RESULT;
	}
	if (!value || !unit || !better)
		return error_set(err, -EINVAL, "test %s: missing %s=", res->name,
				 !value	 ? "value"
				 : !unit ? "unit"
					 : "better");
	if (parse_value(value, &res->value, err)) {
		error_prefix(err, "test %s", res->name);
		return -EINVAL;
	}
	if (!valid_unit(unit) || copy_field(res->unit, sizeof(res->unit), unit))
		return error_set(err, -EINVAL, "test %s: unit=%.40s is not a unit", res->name,
				 unit);
	if (!strcmp(better, "lower"))
		res->better = BENCH_BETTER_LOWER;
	else if (!strcmp(better, "higher"))
		res->better = BENCH_BETTER_HIGHER;
	else
		return error_set(err, -EINVAL, "test %s: better=%.40s (want lower or higher)",
				 res->name, better);
	return BENCH_LINE_RESULT;
}

int bench_parse_line(const char *line, size_t len, struct bench_result *res,
		     unsigned int *done_tests, struct error *err)
{
	static const size_t plen = sizeof(BENCH_LINE_PREFIX) - 1;
	char buf[LINE_MAX_PARSE + 1];
	char *rest;

	while (len && is_blank(line[len - 1]))
		len--;
	if (len < plen || memcmp(line, BENCH_LINE_PREFIX, plen) ||
	    (len > plen && line[plen] != ' ' && line[plen] != '\t')) {
		/* Console output can land in front of a protocol line in the guest. */
		if (find_text(line, len, BENCH_LINE_PREFIX " name=") ||
		    find_text(line, len, BENCH_LINE_PREFIX " done"))
			return error_set(err, -EINVAL,
					 "protocol text after other output on the same line");
		return BENCH_LINE_OTHER;
	}
	if (len > LINE_MAX_PARSE)
		return error_set(err, -EINVAL, "protocol line longer than %d bytes",
				 LINE_MAX_PARSE);
	if (memchr(line, '\0', len))
		return error_set(err, -EINVAL, "NUL byte in a protocol line");
	memcpy(buf, line, len);
	buf[len] = '\0';
	rest = buf + plen;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (!*rest)
		return error_set(err, -EINVAL, "empty protocol line");
	if (!strncmp(rest, "done", 4) && (rest[4] == '\0' || rest[4] == ' ' || rest[4] == '\t'))
		return parse_done(rest + 4, done_tests, err);
	return parse_result(rest, res, err);
}

static void add_problem(struct bench_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_problem(struct bench_run *run, const char *fmt, ...)
{
	va_list ap;

	if (run->nr_problems < BENCH_MAX_PROBLEMS) {
		va_start(ap, fmt);
		vsnprintf(run->problems[run->nr_problems], BENCH_PROBLEM_MAX, fmt, ap);
		va_end(ap);
	}
	run->nr_problems++;
}

const struct bench_result *bench_run_find(const struct bench_run *run, const char *name)
{
	for (unsigned int i = 0; i < run->nr_results; i++) {
		if (!strcmp(run->results[i].name, name))
			return &run->results[i];
	}
	return NULL;
}

static void add_result(struct bench_run *run, const struct bench_result *res, unsigned long lineno)
{
	if (run->done)
		add_problem(run, "line %lu: result for %s after the done line", lineno, res->name);
	else if (bench_run_find(run, res->name))
		add_problem(run, "line %lu: second result for test %s (ignored)", lineno,
			    res->name);
	else if (run->nr_results == BENCH_MAX_TESTS)
		add_problem(run, "line %lu: more than %d tests (%s ignored)", lineno,
			    BENCH_MAX_TESTS, res->name);
	else
		run->results[run->nr_results++] = *res;
}

void bench_parse_output(const char *buf, size_t len, struct bench_run *run)
{
	unsigned long lineno = 0;
	size_t pos = 0;

	memset(run, 0, sizeof(*run));
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		struct bench_result res;
		struct error err = { 0 };
		unsigned int done_tests = 0;
		int kind;

		pos += n + (nl ? 1 : 0);
		lineno++;
		kind = bench_parse_line(line, n, &res, &done_tests, &err);
		if (kind < 0) {
			add_problem(run, "line %lu: %s", lineno, err.msg);
		} else if (kind == BENCH_LINE_RESULT) {
			add_result(run, &res, lineno);
		} else if (kind == BENCH_LINE_DONE) {
			if (run->done) {
				add_problem(run, "line %lu: second done line", lineno);
				continue;
			}
			run->done = true;
			run->done_tests = done_tests;
			if (done_tests != run->nr_results)
				add_problem(run, "line %lu: done says tests=%u but %u results came",
					    lineno, done_tests, run->nr_results);
		}
	}
}

int bench_run_check_done(const struct bench_run *run, const struct bench_run *reference,
			 struct error *err)
{
	unsigned int missing = 0;

	if (run->done)
		return 0;
	if (!run->nr_results)
		return error_set(err, -EPROTO, "no benchsuite results (no kvmini-bench lines)");
	if (!reference)
		return error_set(err, -EPROTO, "no 'kvmini-bench done' line (output cut short?)");
	for (unsigned int i = 0; i < reference->nr_results; i++) {
		if (!bench_run_find(run, reference->results[i].name))
			missing++;
	}
	if (missing || !reference->nr_results)
		return error_set(
			err, -EPROTO,
			"no 'kvmini-bench done' line and %u of %u tests missing (output cut short)",
			missing, reference->nr_results);
	return 1;
}

static void fill_side(bool *has, double *value, char *error, const struct bench_result *r)
{
	*has = r && !r->failed;
	*value = *has ? r->value : NAN;
	if (r && r->failed)
		snprintf(error, BENCH_ERROR_MAX, "%s", r->error);
}

static void pair_one(struct bench_pair *p, const struct bench_result *nat,
		     const struct bench_result *gst)
{
	const struct bench_result *any = nat ? nat : gst;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", any->name);
	fill_side(&p->has_native, &p->native, p->native_error, nat);
	fill_side(&p->has_guest, &p->guest, p->guest_error, gst);
	/* An error line has no unit: take what the other side says. */
	if (nat && !nat->failed)
		any = nat;
	else if (gst && !gst->failed)
		any = gst;
	snprintf(p->unit, sizeof(p->unit), "%s", any->unit);
	p->better = any->better;
	p->ratio = NAN;
	p->relative = NAN;

	if (!nat)
		p->status = BENCH_PAIR_MISSING_NATIVE;
	else if (!gst)
		p->status = BENCH_PAIR_MISSING_GUEST;
	else if (nat->failed)
		p->status = BENCH_PAIR_FAILED_NATIVE;
	else if (gst->failed)
		p->status = BENCH_PAIR_FAILED_GUEST;
	else if (strcmp(nat->unit, gst->unit) || nat->better != gst->better)
		p->status = BENCH_PAIR_MISMATCH;
	else
		p->status = BENCH_PAIR_OK;
	if (p->status == BENCH_PAIR_MISMATCH && nat->better != gst->better)
		p->better = BENCH_BETTER_UNKNOWN;
	if (p->status != BENCH_PAIR_OK)
		return;
	p->ratio = p->guest / p->native;
	p->relative = p->better == BENCH_BETTER_HIGHER ? p->ratio : p->native / p->guest;
}

void bench_report_build(struct bench_report *rep, const struct bench_meta *meta,
			const struct bench_run *native, const struct bench_run *guest)
{
	memset(rep, 0, sizeof(*rep));
	rep->meta = *meta;
	for (unsigned int i = 0; i < native->nr_results; i++) {
		const struct bench_result *nat = &native->results[i];

		pair_one(&rep->pairs[rep->nr_pairs++], nat, bench_run_find(guest, nat->name));
	}
	for (unsigned int i = 0; i < guest->nr_results; i++) {
		const struct bench_result *gst = &guest->results[i];

		if (!bench_run_find(native, gst->name))
			pair_one(&rep->pairs[rep->nr_pairs++], NULL, gst);
	}
}

static bool positive_finite(double v)
{
	return isfinite(v) && v > 0;
}

static void describe_failure(const struct bench_pair *p, char *buf, size_t len)
{
	switch (p->status) {
	case BENCH_PAIR_MISSING_NATIVE:
		snprintf(buf, len, "test %s missing in the native run", p->name);
		break;
	case BENCH_PAIR_MISSING_GUEST:
		snprintf(buf, len, "test %s missing in the guest run", p->name);
		break;
	case BENCH_PAIR_FAILED_NATIVE:
		snprintf(buf, len, "test %s failed in the native run (%s)", p->name,
			 p->native_error);
		break;
	case BENCH_PAIR_FAILED_GUEST:
		snprintf(buf, len, "test %s failed in the guest run (%s)", p->name, p->guest_error);
		break;
	case BENCH_PAIR_MISMATCH:
		snprintf(buf, len, "test %s: the runs disagree on its unit or better=", p->name);
		break;
	case BENCH_PAIR_OK:
		snprintf(buf, len, "test %s: guest/native is not a finite positive number",
			 p->name);
		break;
	}
}

int bench_report_check(const struct bench_report *rep, struct error *err)
{
	char msg[sizeof(err->msg)] = "";
	unsigned int failed = 0;
	size_t used = 0;

	if (!rep->nr_pairs)
		return error_set(err, -EPROTO, "no test results in either run");
	for (unsigned int i = 0; i < rep->nr_pairs; i++) {
		const struct bench_pair *p = &rep->pairs[i];
		char one[BENCH_NAME_MAX + BENCH_ERROR_MAX + 64];

		if (p->status == BENCH_PAIR_OK && positive_finite(p->ratio) &&
		    positive_finite(p->relative))
			continue;
		describe_failure(p, one, sizeof(one));
		if (used < sizeof(msg))
			used += (size_t)snprintf(msg + used, sizeof(msg) - used, "%s%s",
						 failed ? "; " : "", one);
		failed++;
	}
	if (!failed)
		return 0;
	return error_set(err, -EPROTO, "%u of %u tests failed: %s", failed, rep->nr_pairs, msg);
}

const char *bench_better_name(enum bench_better b)
{
	switch (b) {
	case BENCH_BETTER_LOWER:
		return "lower";
	case BENCH_BETTER_HIGHER:
		return "higher";
	default:
		return "?";
	}
}

const char *bench_pair_status_name(enum bench_pair_status s)
{
	switch (s) {
	case BENCH_PAIR_OK:
		return "ok";
	case BENCH_PAIR_MISSING_NATIVE:
		return "missing_native";
	case BENCH_PAIR_MISSING_GUEST:
		return "missing_guest";
	case BENCH_PAIR_FAILED_NATIVE:
		return "failed_native";
	case BENCH_PAIR_FAILED_GUEST:
		return "failed_guest";
	case BENCH_PAIR_MISMATCH:
		return "mismatch";
	}
	return "?";
}

/* Big counts without exponents, small times with enough digits. */
static void format_value(char *buf, size_t len, bool has, double v)
{
	if (!has || !isfinite(v))
		snprintf(buf, len, "-");
	else if (fabs(v) >= 1e5)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.5g", v);
}

static void format_ratio(char *buf, size_t len, double r)
{
	if (!isfinite(r))
		snprintf(buf, len, "-");
	else if (r >= 0.001 && r < 1000)
		snprintf(buf, len, "%.3f", r);
	else
		snprintf(buf, len, "%.3g", r);
}

static const char *side_text(bool has, const char *error, bool present)
{
	if (has)
		return NULL;
	if (!present)
		return "missing";
	return error[0] ? "error" : "-";
}

struct text_row {
	char native[32], guest[32], ratio[32], perf[64];
};

static void text_row_fill(struct text_row *row, const struct bench_pair *p)
{
	const char *s;

	format_value(row->native, sizeof(row->native), p->has_native, p->native);
	s = side_text(p->has_native, p->native_error, p->status != BENCH_PAIR_MISSING_NATIVE);
	if (s)
		snprintf(row->native, sizeof(row->native), "%s", s);
	format_value(row->guest, sizeof(row->guest), p->has_guest, p->guest);
	s = side_text(p->has_guest, p->guest_error, p->status != BENCH_PAIR_MISSING_GUEST);
	if (s)
		snprintf(row->guest, sizeof(row->guest), "%s", s);
	format_ratio(row->ratio, sizeof(row->ratio), p->ratio);
	if (p->status == BENCH_PAIR_OK && isfinite(p->relative))
		snprintf(row->perf, sizeof(row->perf), "%.3f (%s)", p->relative,
			 p->relative >= 1 ? "guest at least as good" : "native better");
	else
		snprintf(row->perf, sizeof(row->perf), "- (%s)", bench_pair_status_name(p->status));
}

static int max_int(int a, size_t b)
{
	return (size_t)a > b ? a : (int)b;
}

int bench_write_text(FILE *f, const struct bench_report *rep)
{
	const struct bench_meta *m = &rep->meta;
	int wname = 4, wunit = 4, wnat = 6, wgst = 5;

	for (unsigned int i = 0; i < rep->nr_pairs; i++) {
		const struct bench_pair *p = &rep->pairs[i];
		struct text_row row;

		text_row_fill(&row, p);
		wname = max_int(wname, strlen(p->name));
		wunit = max_int(wunit, strlen(p->unit));
		wnat = max_int(wnat, strlen(row.native));
		wgst = max_int(wgst, strlen(row.guest));
	}
	fprintf(f, "kvmini bench: guest versus native%s\n", m->quick ? " (quick run)" : "");
	fprintf(f, "host: Linux %s, %s\n", m->host_release ? m->host_release : "?",
		m->cpu_model ? m->cpu_model : "?");
	fprintf(f, "guest kernel: %s\n", m->guest_kernel ? m->guest_kernel : "?");
	if (m->date)
		fprintf(f, "date: %s\n", m->date);
	fputc('\n', f);
	fprintf(f, "%-*s  %-*s  %*s  %*s  %12s  %-6s  %s\n", wname, "test", wunit, "unit", wnat,
		"native", wgst, "guest", "guest/native", "better", "guest perf (1.0 = native)");
	for (unsigned int i = 0; i < rep->nr_pairs; i++) {
		const struct bench_pair *p = &rep->pairs[i];
		struct text_row row;

		text_row_fill(&row, p);
		fprintf(f, "%-*s  %-*s  %*s  %*s  %12s  %-6s  %s\n", wname, p->name, wunit,
			p->unit[0] ? p->unit : "-", wnat, row.native, wgst, row.guest, row.ratio,
			bench_better_name(p->better), row.perf);
	}
	fputc('\n', f);
	fputs("better: which direction of the value is better for that test.\n"
	      "guest perf: guest/native for higher-is-better tests, native/guest for\n"
	      "lower-is-better ones, so 1.0 = native speed and higher = better for every test.\n",
	      f);
	for (unsigned int i = 0; i < rep->nr_pairs; i++) {
		const struct bench_pair *p = &rep->pairs[i];

		if (p->native_error[0])
			fprintf(f, "%s: native error: %s\n", p->name, p->native_error);
		if (p->guest_error[0])
			fprintf(f, "%s: guest error: %s\n", p->name, p->guest_error);
	}
	return ferror(f) ? -EIO : 0;
}

/* Non-ASCII bytes become '?': the guest's text need not be UTF-8. */
static void json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (c >= 0x80)
			fputc('?', f);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_number(FILE *f, bool has, double v)
{
	if (has && isfinite(v))
		fprintf(f, "%.10g", v);
	else
		fputs("null", f);
}

int bench_write_json(FILE *f, const struct bench_report *rep)
{
	const struct bench_meta *m = &rep->meta;

	fputs("{\n  \"schema\": \"kvmini-bench-report/1\",\n  \"date\": ", f);
	json_string(f, m->date);
	fprintf(f, ",\n  \"quick\": %s,\n  \"host\": {\n    \"kernel_release\": ",
		m->quick ? "true" : "false");
	json_string(f, m->host_release);
	fputs(",\n    \"cpu_model\": ", f);
	json_string(f, m->cpu_model);
	fputs("\n  },\n  \"guest\": {\n    \"kernel\": ", f);
	json_string(f, m->guest_kernel);
	fputs("\n  },\n  \"tests\": [", f);
	for (unsigned int i = 0; i < rep->nr_pairs; i++) {
		const struct bench_pair *p = &rep->pairs[i];

		fputs(i ? ",\n    {" : "\n    {", f);
		fputs("\"name\": ", f);
		json_string(f, p->name);
		fputs(", \"unit\": ", f);
		json_string(f, p->unit[0] ? p->unit : NULL);
		fputs(", \"better\": ", f);
		json_string(f, p->better == BENCH_BETTER_UNKNOWN ? NULL
								 : bench_better_name(p->better));
		fputs(",\n     \"native\": ", f);
		json_number(f, p->has_native, p->native);
		fputs(", \"guest\": ", f);
		json_number(f, p->has_guest, p->guest);
		fputs(", \"ratio\": ", f);
		json_number(f, true, p->ratio);
		fputs(", \"relative_performance\": ", f);
		json_number(f, true, p->relative);
		fputs(",\n     \"status\": ", f);
		json_string(f, bench_pair_status_name(p->status));
		fputs(", \"native_error\": ", f);
		json_string(f, p->native_error[0] ? p->native_error : NULL);
		fputs(", \"guest_error\": ", f);
		json_string(f, p->guest_error[0] ? p->guest_error : NULL);
		fputc('}', f);
	}
	fputs(rep->nr_pairs ? "\n  ]\n}\n" : "]\n}\n", f);
	return ferror(f) ? -EIO : 0;
}

/* A gnuplot single-quoted string: '' stands for one quote; no control bytes. */
static int gnuplot_quoted(FILE *f, const char *s)
{
	for (const char *c = s; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -EINVAL;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
	return 0;
}

int bench_write_gnuplot(FILE *f, const struct bench_report *rep, const char *svg_path)
{
	unsigned int nr_ok = 0, row = 0;
	double max_rel = 1.0;

	for (unsigned int i = 0; i < rep->nr_pairs; i++) {
		const struct bench_pair *p = &rep->pairs[i];

		if (p->status != BENCH_PAIR_OK || !positive_finite(p->relative))
			continue;
		nr_ok++;
		if (p->relative > max_rel)
			max_rel = p->relative;
	}
	if (!nr_ok)
		return -ENODATA;

	fputs("# Drawn by kvmini bench: run `gnuplot report.gp`.\n", f);
	fprintf(f,
		"set terminal svg size 900,%u dynamic noenhanced font 'sans,12' background rgb 'white'\n",
		140 + 30 * nr_ok);
	fputs("set output ", f);
	if (gnuplot_quoted(f, svg_path))
		return -EINVAL;
	fputc('\n', f);
	fprintf(f, "set title 'kvmini: guest performance relative to native%s'\n",
		rep->meta.quick ? " (quick run)" : "");
	/* Double quotes: gnuplot expands \n only there. */
	fputs("set xlabel \"guest performance relative to native: 1.0 = native, higher = better\\n"
	      "(guest/native for higher-is-better tests, native/guest for lower-is-better ones)\"\n",
	      f);
	fprintf(f, "set xrange [0:%.3f]\n", max_rel * 1.15 > 1.2 ? max_rel * 1.15 : 1.2);
	/* First test on top: an explicit range reverses by its order. */
	fprintf(f, "set yrange [%u.4:-0.6]\n", nr_ok - 1);
	fputs("set xtics nomirror\n"
	      "set ytics nomirror scale 0\n"
	      "set grid xtics\n"
	      "set style fill solid 0.85 noborder\n"
	      "unset key\n"
	      "set arrow 1 from 1, graph 0 to 1, graph 1 nohead lw 2 dt 2 lc rgb 'black' front\n"
	      "# row, test, relative performance (1.0 = native), bar colour\n"
	      "$bench << EOD\n",
	      f);
	for (unsigned int i = 0; i < rep->nr_pairs; i++) {
		const struct bench_pair *p = &rep->pairs[i];

		if (p->status != BENCH_PAIR_OK || !positive_finite(p->relative))
			continue;
		/* Names are [A-Za-z0-9_.-] (bench_parse_line checked), safe in quotes. */
		fprintf(f, "%u \"%s\" %.6g 0x%06x\n", row++, p->name, p->relative,
			p->relative >= 1 ? 0x2ca02c : 0xd62728);
	}
	fputs("EOD\n"
	      "plot $bench using (0.5*$3):1:(0.5*$3):(0.35):4:ytic(2) with boxxyerror lc rgb variable, \\\n"
	      "     $bench using 3:1:(sprintf(' %.2f', $3)) with labels left\n",
	      f);
	return ferror(f) ? -EIO : 0;
}

void bench_cpu_model(const char *cpuinfo, size_t len, char *out, size_t outlen)
{
	size_t pos = 0;

	snprintf(out, outlen, "unknown");
	while (pos < len) {
		const char *line = cpuinfo + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *colon;

		pos += n + (nl ? 1 : 0);
		if (n < 10 || memcmp(line, "model name", 10))
			continue;
		colon = memchr(line, ':', n);
		if (!colon)
			continue;
		colon++;
		n -= (size_t)(colon - line);
		while (n && (*colon == ' ' || *colon == '\t')) {
			colon++;
			n--;
		}
		while (n && is_blank(colon[n - 1]))
			n--;
		if (!n)
			continue;
		snprintf(out, outlen, "%.*s", (int)n, colon);
		return;
	}
}

/*
 * Human-readable reports of a judged history: a timeline page and two
 * plots, written next to the history.
 *
 *   DIR/timeline.html   One self-contained page (inline CSS and a few lines
 *                       of inline JavaScript for zooming; no external
 *                       resources). At the top the verdict, the run's
 *                       settings if results.json has them, the checker's
 *                       explanation and a list of the operations the
 *                       checker names as witnesses (linked). Below, a time
 *                       axis running down the page and one column per
 *                       worker lane: each operation is a box from its
 *                       invocation to its completion, green (ok), red
 *                       (fail) or orange (info), with its f, key, value,
 *                       error and times in a tooltip; witnesses are
 *                       outlined. Fault periods are shaded bands across all
 *                       columns. At most REPORT_MAX_OPS operations are
 *                       drawn (a window of consecutive ones around the
 *                       first witness), with a note saying which.
 *   DIR/latency.png     Latency (log scale) of every completed operation
 *                       against its invocation time; colour by f, point
 *                       shape by outcome; fault periods shaded.
 *   DIR/throughput.png  Completions per second by outcome; fault periods
 *                       shaded.
 *
 * The plots are drawn by gnuplot run as a child process (pngcairo if it
 * has it, else png); its data and script are temporary files in DIR,
 * removed afterwards.
 *
 * Lanes. Process numbers are Jepsen's: a worker whose operation ended in
 * info continues as a new process, so a run has many more processes than
 * workers. A lane is one worker's sequence of processes, recovered from
 * the history: a process seen for the first time takes over the lane
 * whose last process ended in info most recently, or opens a new lane.
 * Operations in one lane never overlap.
 *
 * Fault periods, from the nemesis events (process "nemesis"), by kind:
 * the nemeses of jepsen/nemesis.c pair pause/resume, kill/restart,
 * partition/heal-partition, loss/heal-loss, remove/add and
 * disk-fill/disk-free, and emit "transfer" alone.
 *   - An event whose f is "resume", "restart", "heal", "add" or
 *     "disk-free", or starts with "heal-" or "stop-", or ends with "-end",
 *     ends a fault; any other f starts one.
 *   - An ending event closes the most recently opened, still open period
 *     of its kind: resume a pause; restart a kill*, stop* or crash*; heal
 *     a partition* or loss*; heal-X an X or X-*; add a remove; disk-free a
 *     disk-fill; stop-X an X or start-X; X-end an X, X-start or X-begin.
 *     An ending event with nothing of its kind open (a restart after a
 *     disk-free, say) is drawn as a marker line.
 *   - A starting event that carries a non-null "error" was a failed
 *     injection: a marker, not a period.
 *   - A period still open at the end of the history lasts until the last
 *     event if some event of the history ended a period of the same f;
 *     if none ever did, its f is an instantaneous fault ("transfer") and
 *     it is a marker.
 *   - Periods may overlap; each is drawn.
 *
 * Witnesses. The checkers describe operations with op_json() (report.h),
 * which carries "invoke_index": every object in results.json with an
 * integer "invoke_index" that names an invocation in the history marks
 * that operation, labelled with the path that led to it (for example
 * "anomalies[nonlinearizable].op").
 */
#ifndef WR_JEPSEN_REPORT_HTML_H
#define WR_JEPSEN_REPORT_HTML_H

#include <stddef.h>

#include <jansson.h>

#include "history.h"

/* Operations drawn in timeline.html at most. */
#define REPORT_MAX_OPS 10000

/*
 * Write DIR/timeline.html, DIR/latency.png and DIR/throughput.png for the
 * history @h judged by @results (the object written to results.json; NULL
 * if there is none). The directory must exist. No reference to @h or
 * @results is kept.
 *
 * Returns 0, or a code with a sentence in @err (@errsize bytes):
 *   WR_UNSUPPORTED  gnuplot is not installed: timeline.html was written,
 *                   the plots were not (the message names them);
 *   WR_IOERR        a file could not be written, or gnuplot failed (the
 *                   message says which file, or gnuplot's first complaint;
 *                   timeline.html was written unless the message names
 *                   it);
 *   WR_NOMEM.
 * Callers that only want the pages as a bonus treat every error as a
 * warning: the verdict does not depend on them.
 */
int report_render(const char *dir, const struct history *h,
                  const json_t *results, char *err, size_t errsize);

/*
 * As report_render(), loading DIR/history.jsonl and, if present,
 * DIR/results.json first. Also WR_CORRUPT (with the parser's message) if
 * the history cannot be parsed; then nothing is written.
 */
int report_render_dir(const char *dir, char *err, size_t errsize);

#endif /* WR_JEPSEN_REPORT_HTML_H */

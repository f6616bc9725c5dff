/*
 * daas.h - the C ABI of daas, an embeddable engine for Discretization-Aware Architecture Search
 * (DAAS, Tian et al. 2020). This header is the manual of libdaas.so; docs/DESIGN.md explains the
 * system and its formulas, docs/ABI.md the rules every function follows, docs/CONFIG.md the config.
 *
 * WHAT THE ENGINE DOES
 *   The engine owns the architecture side of a differentiable NAS search: the architecture
 *   parameters alpha (one per cell type, edge and op) and beta (one per cell type and edge), their
 *   relaxation into mixing weights, the discretization losses and their schedules, the Adam step, the
 *   discretization into a genotype, and the whole search state. Your training loop owns the supernet
 *   and drives the engine step by step ("reverse communication": the engine never calls you):
 *
 *       daas_engine_create(config, &eng)
 *       for epoch e = 1..E:
 *           daas_engine_set_epoch(eng, e)
 *           for each architecture step:
 *               daas_engine_get_weights(eng, op_w, n_alpha, edge_w, n_edges)
 *               ... supernet forward with those weights, loss, backward ...
 *               daas_engine_step(eng, dL/d op_w, n_alpha, dL/d edge_w, n_edges)
 *       daas_engine_discretize(eng, &genotype_json)       daas_engine_save(eng, &state)
 *
 * FLAT LAYOUTS
 *   Cells in configuration order; inside a cell, node j ascending, then input i ascending.
 *   alpha, op weights and their gradients: [cell][edge][op], length n_alpha.
 *   beta, edge weights and their gradients: [cell][edge], length n_edges.
 *   daas_engine_sizes gives both lengths; every buffer length passed in must equal them exactly.
 *
 * CONVENTIONS
 *   - Every fallible function returns a daas_status: DAAS_OK (0) or a negative DAAS_E_* code. The
 *     values never change; new codes are only ever appended.
 *   - After a failure, daas_last_error_message() on the same thread describes it and names the
 *     argument or configuration key that was wrong. A failed call changes nothing: no engine state,
 *     and every output parameter is set to its empty value (NULL handle, {NULL, 0} bytes) when the
 *     output pointer itself is usable; float output buffers may have been partly written.
 *   - Every pointer parameter is required (NULL is DAAS_E_INVALID_ARGUMENT), except the argument of
 *     the two *_free functions, where NULL is a no-op.
 *   - Handles: a daas_engine* is an opaque handle, not a memory address. A NULL, unknown or already
 *     freed handle is DAAS_E_INVALID_ARGUMENT, never a crash (handles are never reused).
 *
 * OWNERSHIP
 *   - Inputs (strings, byte and float buffers) are borrowed for the duration of the call only and
 *     never retained, so buffers owned by numpy, torch or any allocator may be passed in place.
 *   - What comes back through an out parameter belongs to the caller: an engine is released with
 *     daas_engine_free, a daas_bytes with daas_bytes_free. The strings returned by
 *     daas_version_string and daas_status_string are static; daas_last_error_message's string is
 *     owned by the library (see there).
 *
 * THREADS
 *   - Any thread may call any function. Engines are independent of each other.
 *   - Functions taking a `const daas_engine *` may run concurrently on the same engine. Functions
 *     taking a non-const `daas_engine *` (set_epoch, step, free) need exclusive access to that
 *     engine: no other call on the same engine may run at the same time. (The library also
 *     serializes calls on one engine internally, so a mistake costs waiting, not memory safety; do
 *     not rely on it for ordering.)
 *   - The last error message is kept per thread.
 *
 * FORK
 *   The library runs the Go runtime, which is not fork-safe. A child process created with fork()
 *   (for example by Python's multiprocessing or a DataLoader with the "fork" start method) must not
 *   call any daas_* function, nor use an engine created before the fork; calls there can hang. Use
 *   the "spawn" or "forkserver" start method, or load the library only in the child. exec() after
 *   fork is fine.
 *
 * THE LIBRARY NEVER PRINTS, EXITS OR ABORTS
 *   A bug inside the library (a recovered Go panic) is reported as DAAS_E_INTERNAL. Conditions the Go
 *   runtime treats as fatal (the process running out of memory) are outside the library's control.
 *
 * VERSIONS
 *   libdaas.so.1 (SONAME) carries ABI version 1. "Since" lines give the library version that first
 *   had a function. Symbols exported: daas_* only.
 */
#ifndef DAAS_H
#define DAAS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this header. DAAS_ABI_VERSION changes only when a binary-incompatible change is made
 * (it is also the N of the SONAME libdaas.so.N). Since 0.1.0. */
#define DAAS_VERSION_MAJOR 0
#define DAAS_VERSION_MINOR 1
#define DAAS_VERSION_PATCH 0
#define DAAS_VERSION_STRING "0.1.0"
#define DAAS_ABI_VERSION 1

/* An engine: one architecture search. Opaque; create with daas_engine_create or daas_engine_load,
 * release with daas_engine_free. Since 0.1.0. */
typedef struct daas_engine daas_engine;

/* The status of a call: DAAS_OK (0) or a negative DAAS_E_* code. Since 0.1.0. */
typedef int32_t daas_status;

/* Bytes produced by the library (JSON text, a serialized state or a result FlatBuffer). `data` is allocated by the
 * library and owned by the caller, who releases it with daas_bytes_free. JSON text is NOT
 * NUL-terminated: use `len`. Since 0.1.0. */
typedef struct {
    uint8_t *data;
    size_t len;
} daas_bytes;

/* Status codes. Values never change. Since 0.1.0. */
#define DAAS_OK 0
#define DAAS_E_INTERNAL -1         /* a bug in the library; includes recovered Go panics */
#define DAAS_E_INVALID_ARGUMENT -2 /* NULL pointer, unknown handle, wrong length, epoch out of range */
#define DAAS_E_INVALID_CONFIG -3   /* malformed JSON, unknown key, wrong type, out-of-range value */
#define DAAS_E_CORRUPT_STATE -4    /* the bytes are not a daas state (truncated, altered, random) */
#define DAAS_E_VERSION_MISMATCH -5 /* a well-formed state of a schema version this build does not know */
#define DAAS_E_NUMERIC -6          /* NaN or Inf in an input (or an overflowing gradient); nothing changed */
#define DAAS_E_DEVICE -7           /* GPU path unavailable or failed (no GPU path in the default build) */
#define DAAS_E_IO -8               /* a file could not be read or written (the *_file functions) */

/* ---------------------------------------------------------------------------------------------- */
/* Library                                                                                        */

/* daas_abi_version returns the ABI version of the loaded library (DAAS_ABI_VERSION it was built
 * with, 1). Compare it with DAAS_ABI_VERSION to detect a header/library mismatch at run time.
 * Thread-safe. Since 0.1.0. */
uint32_t daas_abi_version(void);

/* daas_version_string returns the library's version, "MAJOR.MINOR.PATCH" (DAAS_VERSION_STRING it
 * was built with). Ownership: a static string; do not free. Thread-safe. Since 0.1.0. */
const char *daas_version_string(void);

/* daas_last_error_message returns a description of the last failed call made by the calling thread,
 * for example "daas: invalid argument: grad_op is NULL", or "" if no call on this thread has failed.
 * Never NULL. Successful calls do not clear it.
 * Ownership: owned by the library, per thread; valid until the next failing daas_* call on the same
 * thread. Copy it if you need to keep it. Messages longer than 1023 bytes are truncated.
 * Since 0.1.0. */
const char *daas_last_error_message(void);

/* daas_status_string returns the name of a status code, for example "DAAS_E_NUMERIC", or
 * "DAAS_E_UNKNOWN" for a value that is not a status code. Never NULL.
 * Ownership: a static string; do not free. Thread-safe. Since 0.1.0. */
const char *daas_status_string(daas_status status);

/* ---------------------------------------------------------------------------------------------- */
/* Engines                                                                                        */

/* daas_engine_create creates an engine at epoch 1 with alpha and beta initialized from the
 * configured seed (the same config gives the same engine on every machine).
 *   config_json  NUL-terminated JSON object; "" or "{}" means all defaults (the darts preset, method
 *                daas, 50 epochs, seed 0, device "cpu"). Keys: space, method, epochs, seed, gradient,
 *                device, optimizer, loss, control (every key: docs/CONFIG.md). device is where
 *                the architecture side computes: "cpu" (the default), or "cuda" / "cuda:N" (GPU
 *                ordinal N, default 0) for a device-resident engine, which only libdaas-cuda.so
 *                has (see THE DEVICE ENGINE below); libdaas.so refuses it with DAAS_E_DEVICE. A
 *                device engine needs gradient "fast".
 *                optimizer.alpha_start_epoch and loss.lambda_alpha.delay default to
 *                max(1, round(8 * epochs / 50)) (8 at 50 epochs); an explicit delay of 2 or more
 *                that is >= epochs (acting in the last epoch at most) is DAAS_E_INVALID_CONFIG.
 *                control (absent: off) is the discreteness controller, method daas only:
 *                {"edge_target": T_e, "mass_target": T_m, "start_epoch": S, "by_epoch": B,
 *                 "gain": g, "decay": d, "max_boost": M}, targets in [0, 1) (0: that loop off),
 *                defaults S = alpha_start_epoch, B = max(S, epochs - epochs/5), g 0.05, d 0.01, M 100.
 *                From epoch S, after every step, each figure x (weakest_kept_edge for T_e,
 *                kept_mass for T_m) is compared with tau(e) = x0 + (T - x0) *
 *                min(1, (e + 1 - S) / (B + 1 - S)), x0 its value at uniform weights (1/n_ops;
 *                the smallest k_j/n_j): its boost b becomes min(b * (1 + g), M) if x < tau, else
 *                max(b * (1 - d), 1). The op boost multiplies lambda_c * lambda_alpha, the edge
 *                boost lambda_c * lambda_beta, in the next steps. The boosts are saved in the
 *                state; a loaded engine continues bit-identically.
 *   out          receives the new engine; set to NULL on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT if a pointer is NULL; DAAS_E_INVALID_CONFIG for malformed
 * JSON, an unknown key, a wrong type or an out-of-range value (the message names the key);
 * DAAS_E_DEVICE for a device this build cannot compute on ("cuda").
 * Ownership: the caller owns *out and releases it with daas_engine_free. Since 0.1.0. */
daas_status daas_engine_create(const char *config_json, daas_engine **out);

/* daas_engine_load creates an engine from a state written by daas_engine_save. The loaded engine
 * continues bit-identically: the same calls give the same results and the same saved bytes.
 *   data, len    the state bytes (borrowed; untrusted input is fine).
 *   out          receives the new engine; set to NULL on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT if a pointer is NULL (also with len 0) or len exceeds
 * 2^47; DAAS_E_CORRUPT_STATE if the bytes are not a daas state, fail their checksum (truncated,
 * altered, random) or hold a value no step writes (NaN, Inf, a number past the bounds that
 * daas_engine_step keeps, an inconsistent counter); DAAS_E_VERSION_MISMATCH
 * for a state of a schema version this library does not know; DAAS_E_DEVICE for a state whose
 * configuration names a device this build lacks ("cuda" in a build without the GPU path).
 * Ownership: the caller owns *out and releases it with daas_engine_free. Since 0.1.0. */
daas_status daas_engine_load(const uint8_t *data, size_t len, daas_engine **out);

/* daas_engine_free releases an engine. NULL, and a handle already freed, are no-ops.
 * Needs exclusive access to the engine; the handle is invalid afterwards. Since 0.1.0. */
void daas_engine_free(daas_engine *engine);

/* daas_engine_sizes gives the lengths of the flat buffers.
 *   n_alpha_out  receives the length of alpha, op weights and op gradients.
 *   n_edges_out  receives the length of beta, edge weights and edge gradients.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an invalid handle. Since 0.1.0. */
daas_status daas_engine_sizes(const daas_engine *engine, size_t *n_alpha_out, size_t *n_edges_out);

/* daas_engine_get_alpha copies the architecture parameters alpha, [cell][edge][op], into out.
 *   out, n_alpha  a caller buffer of exactly n_alpha floats (see daas_engine_sizes).
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer, an invalid handle or a wrong length.
 * Since 0.1.0. */
daas_status daas_engine_get_alpha(const daas_engine *engine, float *out, size_t n_alpha);

/* daas_engine_get_beta copies the edge parameters beta, [cell][edge], into out. Entries of nodes that
 * keep every input are the constant 1.0 (method darts: every entry).
 *   out, n_edges  a caller buffer of exactly n_edges floats.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer, an invalid handle or a wrong length.
 * Since 0.1.0. */
daas_status daas_engine_get_beta(const daas_engine *engine, float *out, size_t n_edges);

/* daas_engine_get_weights writes the mixing weights the supernet uses in its forward pass
 * (docs/DESIGN.md, Relaxation): op weights A (softmax of the sharpened alpha per edge) and edge weights W.
 *   op_out, n_alpha    a caller buffer of exactly n_alpha floats, [cell][edge][op].
 *   edge_out, n_edges  a caller buffer of exactly n_edges floats, [cell][edge].
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer, an invalid handle or a wrong length.
 * Since 0.1.0. */
daas_status daas_engine_get_weights(const daas_engine *engine, float *op_out, size_t n_alpha,
                                    float *edge_out, size_t n_edges);

/* daas_engine_set_epoch moves the loss schedules to epoch (1-based; a new engine is at epoch 1).
 * Leaving an epoch records its metrics and genotype in the engine's history; setting the current
 * epoch again does nothing. Epochs may be revisited in any order.
 *   epoch  1..epochs of the configuration.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for an invalid handle or an epoch out of range.
 * Needs exclusive access to the engine. Since 0.1.0. */
daas_status daas_engine_set_epoch(daas_engine *engine, int32_t epoch);

/* daas_engine_step applies one architecture step (docs/DESIGN.md, One step and The Adam step): the task-loss gradients are
 * pulled back through the relaxation, the discretization-loss gradients of the current epoch are
 * added, and one Adam step updates alpha and beta.
 *   grad_op, n_alpha    dL/d(op weights), exactly n_alpha floats, [cell][edge][op].
 *   grad_edge, n_edges  dL/d(edge weights), exactly n_edges floats, [cell][edge].
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer, an invalid handle or a wrong length;
 * DAAS_E_NUMERIC if a gradient holds NaN or Inf, or if the update would take alpha or beta beyond
 * +-1e12 or an Adam moment beyond 1e100 (second moment 1e200), the bounds every state keeps (the
 * message gives the index) - the engine is then left exactly as it was. No search reaches these
 * bounds; a step refuses to leave them so that every state it commits loads again.
 * Needs exclusive access to the engine. Since 0.1.0. */
daas_status daas_engine_step(daas_engine *engine, const float *grad_op, size_t n_alpha,
                             const float *grad_edge, size_t n_edges);

/* daas_engine_discretize returns the genotype of the current alpha and beta as JSON (docs/DESIGN.md,
 * Discretization), self-describing:
 *   {"format": 1, "method", "ops": [...], "discard": [...] (left out when empty),
 *    "cells": [{"name", "inputs", "keep": [k_0, ...], "concat": [...],
 *               "nodes": [[{"input", "op", "weight"}, ...], ...]}, ...],
 *    "darts": "Genotype(...)" and/or "nb201": "|op~0|+..." where the space has that layout}.
 * In a cell, states 0..inputs-1 are the cell inputs (0 the oldest: in a DARTS cell the output of the
 * cell two back) and state inputs+j is node j; nodes[j] lists node j's kept inputs, strongest first
 * (keep[j] of them), and the node count is the length of nodes. "weight" is the kept edge's weight W
 * now (n_j * softmax(min(beta, 1)) on a node that drops inputs, 1 on a node that keeps all and for
 * darts): a network cut from the supernet inherits it; it is left out when 0. "darts" is written
 * only for two cells named normal and reduce with 2 inputs and keep 2 everywhere (what DARTS's code
 * builds); "nb201" for one cell with 1 input and 3 nodes keeping all. Histories written before
 * format 1 hold genotypes without format, ops, discard, inputs and keep. daas_engine_discretize_fb
 * returns the same genotype as a FlatBuffer.
 *   genotype_json_out  receives the JSON text (not NUL-terminated); {NULL, 0} on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an invalid handle.
 * Ownership: the caller releases *genotype_json_out with daas_bytes_free. Since 0.1.0. */
daas_status daas_engine_discretize(const daas_engine *engine, daas_bytes *genotype_json_out);

/* daas_engine_metrics returns a JSON object describing the search now. With A the op weights,
 * q_j = softmax(min(beta_j, 1)) per node j (n_j inputs, k_j kept) and "kept" the genotype's choices:
 *   method, epoch, step
 *   lambda_c, lambda_alpha, lambda_beta  the schedules' values at this epoch (without boosts)
 *   op_entropy          H_alpha = sum over edges of -sum_o A_o log A_o
 *   edge_entropy        sum over nodes with k_j < n_j of -sum_i q_ji log q_ji (0 for darts)
 *   edge_count_penalty  sum over those nodes of w_sum * (sum_i max(0, min(beta_ji, 1)) - k_j)^2
 *                       (w_sum included; 0 for darts)
 *   disc_loss           lambda_c * (lambda_alpha * b_op * op_entropy
 *                       + lambda_beta * b_edge * (edge_entropy + edge_count_penalty))
 *   discreteness        mean over edges of max_o A_o
 *   weakest_edge        min over edges of max_o A_o
 *   weakest_kept_edge   min over kept edges of A of the op kept there (ops not discarded)
 *   kept_mass           min over nodes of sum over kept inputs of W_i / sum_i W_i
 *                       (1 on nodes that keep all; k_j / n_j for darts)
 *   op_boost, edge_boost  the controller's b_op and b_edge (1 without "control")
 * daas_engine_metrics_fb returns the same values as a FlatBuffer.
 *   json_out  receives the JSON text (not NUL-terminated); {NULL, 0} on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an invalid handle.
 * Ownership: the caller releases *json_out with daas_bytes_free. Since 0.1.0. */
daas_status daas_engine_metrics(const daas_engine *engine, daas_bytes *json_out);

/* daas_engine_save serializes the whole state (config, alpha, beta, Adam moments, epoch, step,
 * history) as FlatBuffers bytes with file identifier "DAAS" and a CRC-32C checksum. Saving the same
 * state twice gives the same bytes; daas_engine_load continues from them bit-identically.
 *   out  receives the state bytes; {NULL, 0} on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an invalid handle.
 * Ownership: the caller releases *out with daas_bytes_free. Since 0.1.0. */
daas_status daas_engine_save(const daas_engine *engine, daas_bytes *out);

/* daas_bytes_free releases bytes returned by the library and sets them to {NULL, 0}, so freeing
 * twice is harmless. NULL, and bytes whose data is NULL, are no-ops. Since 0.1.0. */
void daas_bytes_free(daas_bytes *bytes);

/* daas_engine_epoch gives the current epoch (1-based).
 *   epoch_out  receives the epoch.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an invalid handle. Since 0.1.0. */
daas_status daas_engine_epoch(const daas_engine *engine, int32_t *epoch_out);

/* daas_engine_config returns the engine's configuration as canonical JSON: every key present, the
 * space spelled out as an object. Creating an engine from it gives the same configuration.
 *   json_out  receives the JSON text (not NUL-terminated); {NULL, 0} on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an invalid handle.
 * Ownership: the caller releases *json_out with daas_bytes_free. Since 0.1.0. */
daas_status daas_engine_config(const daas_engine *engine, daas_bytes *json_out);

/* ---------------------------------------------------------------------------------------------- */
/* Typed results                                                                                  */
/*
 * The two functions below return what daas_engine_discretize and daas_engine_metrics return, as
 * FlatBuffers of schemas/daas.fbs instead of JSON text: typed fields without a JSON parser. daas.hpp
 * reads them with the C++ code flatc generates from that schema (daas/daas_generated.h, namespace
 * daas::state); any FlatBuffers implementation can. The schema's root_type is the state's Envelope,
 * so a reader names the root table itself, after verifying the buffer against it (C++:
 * flatbuffers::Verifier and VerifyBuffer<daas::state::GenotypeResult>("DGEN"), then
 * flatbuffers::GetRoot<daas::state::GenotypeResult>). The file identifier, bytes 4..8, tells the
 * two kinds apart. The data of a daas_bytes is allocated with malloc, so every scalar in the buffer is
 * aligned for direct reads.
 */

/* daas_engine_discretize_fb returns the genotype of daas_engine_discretize as a FlatBuffer whose root
 * is the table daas.state.GenotypeResult of schemas/daas.fbs, file identifier "DGEN". It holds the
 * values of the JSON: format, method, ops, discard (an empty vector where the JSON leaves it out),
 * and per cell name, inputs, keep, concat and nodes, each node a NodeChoices whose choices are the
 * JSON's {input, op, weight} in the same order; darts and nb201 are absent (not empty strings) where
 * the JSON leaves them out. The same genotype gives the same bytes.
 *   out  receives the buffer; {NULL, 0} on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an invalid handle.
 * Ownership: the caller releases *out with daas_bytes_free. Since 0.2.0. */
daas_status daas_engine_discretize_fb(const daas_engine *engine, daas_bytes *out);

/* daas_engine_metrics_fb returns the metrics of daas_engine_metrics as a FlatBuffer whose root is the
 * table daas.state.Metrics of schemas/daas.fbs (the table a state's history holds), file identifier
 * "DMET": method, epoch, step and lambda_c .. edge_boost as doubles, the same values as the JSON
 * numbers, bit for bit.
 *   out  receives the buffer; {NULL, 0} on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an invalid handle.
 * Ownership: the caller releases *out with daas_bytes_free. Since 0.2.0. */
daas_status daas_engine_metrics_fb(const daas_engine *engine, daas_bytes *out);

/* ---------------------------------------------------------------------------------------------- */
/* Checkpoint files                                                                               */

/* daas_engine_save_file writes the state (the bytes of daas_engine_save) to the file at path,
 * atomically: the bytes go to a new temporary file in the same folder (".<name>.<host>-<pid>.<random>.tmp"),
 * which is flushed to disk (fsync), closed and renamed over path, and then the folder is flushed.
 * After a crash at any moment, path holds either the earlier file or the complete new state; it is
 * never partly written. A new file gets mode 0644; a file that is replaced keeps its mode.
 *   path  NUL-terminated file path, absolute or relative to the working directory (borrowed). Its
 *         folder must exist.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL or empty path or an invalid handle; DAAS_E_IO
 * if the file cannot be written (missing folder, no permission, disk full, path is a folder, ...):
 * the message names the step, the path and the system's reason, for example "daas: i/o error:
 * create a temporary file for /ckpt/run1.daas: no such file or directory". On failure the temporary
 * file is removed and an earlier file at path is left as it was; the one exception is a failure to
 * flush the folder after the rename, where the new state is already at path (but may not survive a
 * power loss) and DAAS_E_IO is still returned. A process killed during a save leaves its temporary
 * file; each successful save removes those of path left by processes of this machine that no longer
 * exist.
 * Ownership: nothing is retained. Concurrent saves of one engine, or to one path, are safe (the last
 * rename wins). The engine is locked only while its state is taken, not while the file is written and
 * flushed, so a step from another thread does not wait for the disk. Since 0.1.0. */
daas_status daas_engine_save_file(const daas_engine *engine, const char *path);

/* daas_write_file writes len bytes at data to the file at path with the writer daas_engine_save_file
 * uses, with the same guarantees: a temporary file next to path, written and flushed (fsync), renamed
 * over path, the folder flushed; an earlier file at path is either left whole or replaced whole. It
 * is the one file writer of the project: the Python package writes its checkpoints, reports and
 * figures through it. len may be 0 (data may then be NULL).
 *   path  NUL-terminated file path (borrowed); its folder must exist.
 *   data  the bytes (borrowed for the call).
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL or empty path, NULL data with len > 0, or len
 * over 2^47; DAAS_E_IO as daas_engine_save_file. Ownership: nothing is retained. Needs no engine and
 * is safe from any thread. Since 0.2.0. */
daas_status daas_write_file(const char *path, const uint8_t *data, size_t len);

/* daas_engine_load_file creates an engine from a file written by daas_engine_save_file (or holding
 * the bytes of daas_engine_save), like daas_engine_load: it continues bit-identically. The file's
 * size is checked before it is read: a file larger than any state can be (2^31 bytes) is refused
 * unread.
 *   path  NUL-terminated file path (borrowed).
 *   out   receives the new engine; set to NULL on failure.
 * Returns DAAS_OK; DAAS_E_INVALID_ARGUMENT for a NULL pointer or an empty path; DAAS_E_IO if the
 * file cannot be opened or read, or is not a regular file (the message names the path and the
 * system's reason, for example "daas: i/o error: open /ckpt/run1.daas: no such file or directory");
 * DAAS_E_CORRUPT_STATE if its bytes are not a daas state or the file is too large to be one;
 * DAAS_E_VERSION_MISMATCH for a state of a schema version this library does not know, DAAS_E_DEVICE
 * for one saved on a device this build lacks (the message names the file).
 * Ownership: the caller owns *out and releases it with daas_engine_free. Since 0.1.0. */
daas_status daas_engine_load_file(const char *path, daas_engine **out);

/* THE DEVICE ENGINE (libdaas-cuda.so)
 *   libdaas-cuda.so is libdaas.so plus a GPU path (make lib-cuda; SONAME libdaas-cuda.so.1, the
 *   same daas_* functions). An engine created (or loaded) with device "cuda" keeps alpha, beta, the
 *   Adam moments, the step counters, the epoch's coefficients and the controller's boosts in GPU
 *   memory, in the device's primary context (the one the CUDA runtime, and so PyTorch, uses: its
 *   pointers and streams are valid here). Its step is one kernel enqueued on your stream, its weights
 *   another: the host never waits for them. It computes the same float64 arithmetic as the host
 *   engine, without fused multiply-adds, and ends in the same numbers: fed the same gradients, a
 *   device engine's state differs from a host engine's only in the configuration's "device".
 *
 *   The device functions below enqueue and never synchronize. Every other function on a device
 *   engine synchronizes (waits for the device) and then works as on a host engine: save, metrics,
 *   discretize, get_alpha/get_beta/get_weights into host memory, set_epoch and daas_engine_step with
 *   host buffers (which also put the result back on the device). Only daas_engine_sizes,
 *   daas_engine_epoch and daas_engine_config never wait: they alone may be called while a stream
 *   is being captured into a CUDA graph.
 *
 *   Refusal without a sync: a step whose gradients hold NaN or Inf, or whose update would leave the
 *   bounds daas_engine_step keeps, is detected on the device and not applied - the whole step, as on
 *   the host. The next synchronizing call (daas_engine_sync or any of the others above) returns
 *   DAAS_E_NUMERIC naming the first refused step call, what failed and how many were refused, and
 *   does nothing else; the record is then cleared, so the call after it proceeds.
 *
 *   CUDA graphs: the kernels read everything that changes from step to step (counters, bias
 *   corrections, coefficients) from device memory, never from launch arguments, so a capture of
 *   daas_engine_get_weights_device and daas_engine_step_device replays correctly any number of
 *   times; set_epoch between replays takes effect in the next replay.
 *
 *   Loading libdaas-cuda.so initializes the CUDA driver, and where that fails (no GPU, no driver)
 *   the process ends: load it only once the process knows a GPU is there (PyTorch's
 *   torch.cuda.is_available(), or cuInit succeeding), and use libdaas.so otherwise. The Python
 *   package and daas.hpp follow this rule.
 *
 *   Device pointers travel as uint64_t (a CUdeviceptr) and the stream as void * (a CUstream; NULL is
 *   the legacy default stream), so this header needs no CUDA header. In libdaas.so, and on an engine
 *   created with device "cpu", the three device functions return DAAS_E_DEVICE. */

/* daas_engine_get_weights_device enqueues on stream the writing of the mixing weights (as
 * daas_engine_get_weights) into device memory, as they stand after the work before it on stream.
 *   op_out, n_alpha    device buffer of n_alpha floats (CUdeviceptr).
 *   edge_out, n_edges  device buffer of n_edges floats.
 *   stream             CUstream the kernel runs on, in order with your own work on it.
 * Returns DAAS_OK once enqueued; DAAS_E_INVALID_ARGUMENT for an invalid handle, a 0 pointer, a wrong
 * length, or a pointer that is not device memory of that length; DAAS_E_DEVICE for an engine not on
 * a device, in libdaas.so, or a launch the driver refused (the message has its error). Since 0.2.0. */
daas_status daas_engine_get_weights_device(const daas_engine *engine, uint64_t op_out, size_t n_alpha,
                                           uint64_t edge_out, size_t n_edges, void *stream);

/* daas_engine_step_device enqueues one architecture step (as daas_engine_step) on stream, reading
 * the gradients from device memory when the kernel runs. It does not wait; a refused step is
 * reported by the next synchronizing call (see THE DEVICE ENGINE).
 *   grad_op, n_alpha    device buffer of n_alpha floats, dL/d(op weights).
 *   grad_edge, n_edges  device buffer of n_edges floats, dL/d(edge weights).
 *   stream              CUstream; the gradients must be written on it (or before it) first.
 * Returns DAAS_OK once enqueued; otherwise as daas_engine_get_weights_device.
 * Needs exclusive access to the engine. Since 0.2.0. */
daas_status daas_engine_step_device(daas_engine *engine, uint64_t grad_op, size_t n_alpha,
                                    uint64_t grad_edge, size_t n_edges, void *stream);

/* daas_engine_sync waits for everything enqueued on the engine's device and brings the engine's
 * host side up to date.
 * Returns DAAS_OK; DAAS_E_NUMERIC if the device refused steps since the last synchronizing call (the
 * message names the first: "the device refused step call 12 (it would have been step 11):
 * grad_op[5] was NaN or Inf; ..."); DAAS_E_DEVICE for a fault of the device (the message has the
 * driver's error), for an engine not on a device, and in libdaas.so; DAAS_E_INVALID_ARGUMENT for an
 * invalid handle. Needs exclusive access to the engine. Since 0.2.0. */
daas_status daas_engine_sync(daas_engine *engine);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DAAS_H */

/*
 * The client wire protocol: dqlite's protocol, version 1.
 *
 * Both sides use this codec: the node decodes requests and encodes
 * responses, the client library encodes requests and decodes responses. The
 * facts below come from the specification, reference/wire-protocol.md in
 * canonical/dqlite-docs ("spec"), and were checked against dqlite 1.11.1
 * (src/protocol.h, request.h, response.h, message.h, tuple.[ch], query.c,
 * bind.c, gateway.c, lib/serialize.h), dqlite HEAD for the later schema
 * versions, and go-dqlite 1.11.5, the version Debian 12 ships
 * (internal/protocol/constants.go, message.go, request.go, response.go,
 * schema.go, connector.go). Where they disagree the text says which we follow.
 *
 * ## Conventions
 *
 * A word is 8 bytes. All integers are little-endian. A body is a whole number
 * of words.
 *
 *   u32, u64   unsigned integer, 4 or 8 bytes
 *   i64        two's complement, 8 bytes
 *   double     IEEE 754 binary64, its bit pattern stored as a u64
 *   text       UTF-8 bytes, a NUL, then zero bytes up to the next word
 *              boundary: "" is one word, "1234567" one word, "12345678" two.
 *              A text cannot contain a NUL. (spec "text"; serialize.h)
 *   blob       u64 length n, n bytes, zero bytes up to a word boundary
 *              (spec "Data types", type 4; serialize.h blob__encode)
 *
 * ## Framing
 *
 * Right after connecting, the client sends one word: the protocol version,
 * 1 (DQLITE_PROTOCOL_VERSION), or 0x86104dd760433fe5 for the pre-1.0 legacy
 * protocol (DQLITE_PROTOCOL_VERSION_LEGACY; protocol.h, constants.go). The
 * server never answers it. go-dqlite tries 1 first and falls back to legacy
 * only if the server closes the connection (connector.go). Legacy differs in
 * one place only: the answer to LEADER is SERVER_LEGACY (gateway.c
 * handle_leader_legacy).
 *
 * Then each message, in either direction, is an 8-byte header and a body:
 *
 *   0  u32  body length in words (spec; message.h "words")
 *   4  u8   type (request or response code, tables below)
 *   5  u8   schema version of the body, 0 unless noted (message.h calls it
 *           "flags" in 1.11 and "schema" at HEAD)
 *   6  u16  unused ("extra"); go-dqlite writes zero, dqlite ignores it, so
 *           do we
 *
 * Raft peers share the port: protocol version, then CONNECT (type 11), after
 * which the stream belongs to the raft transport (dqlite transport.c).
 *
 * ## Tuples (spec "row-tuple, params-tuple, params32-tuple"; tuple.h)
 *
 * Value type codes (protocol.h, constants.go, spec):
 *
 *   1 INTEGER   i64
 *   2 FLOAT     double
 *   3 TEXT      text
 *   4 BLOB      blob
 *   5 NULL      one word, written as zero (its content is ignored on read)
 *   9 UNIXTIME  i64 seconds since the epoch
 *  10 ISO8601   text
 *  11 BOOLEAN   u64, 0 false, 1 true (readers treat any non-zero as true)
 *
 * Parameters (the tail of EXEC, QUERY, EXEC_SQL, QUERY_SQL):
 *   schema 0: u8 count n (spec "params-tuple"; tuple.c TUPLE__PARAMS)
 *   schema 1: u32 count n (spec "params32-tuple"; dqlite HEAD tuple.c
 *             TUPLE__PARAMS32, protocol.h DQLITE_REQUEST_PARAMS_SCHEMA_V1;
 *             go-dqlite HEAD putNamedValues32)
 *   then n one-byte type codes, zero bytes up to a word boundary counted
 *   from the start of the count, then the n values.
 *   Zero parameters: the tuple is left out altogether and the body ends
 *   after the previous field; go-dqlite never sends a count of 0
 *   (message.go putNamedValues) and dqlite reads "body exhausted" as "no
 *   parameters" (bind.c bind__params). A count of 0 is also accepted.
 *   go-dqlite sends INTEGER, FLOAT, TEXT, BLOB, NULL, BOOLEAN and, for a
 *   time.Time, ISO8601 (message.go putNamedValues). We also accept UNIXTIME,
 *   which dqlite 1.11 refuses (tuple.c tuple_decoder__next has no case for
 *   it); a server binds it as an integer.
 *   Example, schema 0, (42, "hi"):  02 01 03 00 00 00 00 00 | 2a 00 .. 00 |
 *   68 69 00 00 00 00 00 00.
 *
 * Rows: 4-bit type codes, column i in the low nibble of byte i/2 if i is
 * even and in the high nibble if odd, zero bits up to a word boundary, then
 * the values. There is no count: the reader knows the number of columns.
 * Types are per row: the same column may be INTEGER in one row and NULL in
 * the next (query.c value_type).
 *
 * ## Requests (request.h, protocol.h, spec "Client messages")
 *
 *   0  LEADER     u64 unused                      -> SERVER (SERVER_LEGACY)
 *   1  CLIENT     u64 client id                   -> WELCOME
 *   2  HEARTBEAT  u64 timestamp (go-dqlite schema.go; dqlite 1.11 has no
 *                 handler, HEAD answers FAILURE "unrecognized request type")
 *   3  OPEN       text name, u64 flags, text vfs  -> DB
 *   4  PREPARE    u64 db id, text sql             -> STMT
 *                 schema 1 (dqlite HEAD DQLITE_PREPARE_STMT_SCHEMA_V1): same
 *                 body, the SQL may hold several statements, the answer is
 *                 STMT_WITH_OFFSET
 *   5  EXEC       u32 db id, u32 stmt id, params  -> RESULT
 *   6  QUERY      u32 db id, u32 stmt id, params  -> ROWS
 *   7  FINALIZE   u32 db id, u32 stmt id          -> EMPTY
 *   8  EXEC_SQL   u64 db id, text sql, params     -> RESULT
 *   9  QUERY_SQL  u64 db id, text sql, params     -> ROWS
 *  10  INTERRUPT  u64 db id                       -> EMPTY
 *  11  CONNECT    u64 node id, text address (raft peers; request.h)
 *  12  ADD        u64 node id, text address       -> EMPTY
 *  13  ASSIGN     u64 node id, [u64 role]         -> EMPTY
 *                 The role is optional: without it this is the old PROMOTE
 *                 and means voter (gateway.c handle_assign reads it only if
 *                 bytes remain; HEAD request.h PROMOTE_OR_ASSIGN). go-dqlite
 *                 always sends it. Roles: 0 voter, 1 standby, 2 spare.
 *  14  REMOVE     u64 node id                     -> EMPTY
 *  15  DUMP       text database name              -> FILES
 *  16  CLUSTER    u64 format                      -> SERVERS
 *                 format 1 lists roles, format 0 does not (protocol.h
 *                 DQLITE_REQUEST_CLUSTER_FORMAT_V0/V1; gateway.c
 *                 encodeServer); go-dqlite asks for 1.
 *  17  TRANSFER   u64 node id (0 lets raft pick a voter: raft.h
 *                 raft_transfer)                  -> EMPTY
 *  18  DESCRIBE   u64 format, always 0            -> METADATA
 *  19  WEIGHT     u64 weight                      -> EMPTY
 *
 * Schema 1 is accepted for PREPARE, EXEC, QUERY, EXEC_SQL and QUERY_SQL,
 * schema 0 only for the rest (dqlite HEAD gateway.c answers others with
 * "unrecognized schema version").
 *
 * ## Responses (response.h, protocol.h, spec "Server messages")
 *
 *   0  FAILURE        u64 code, text message
 *   1  SERVER         u64 node id, text address (id 0 and "" when no leader
 *                     is known)
 *   1  SERVER_LEGACY  text address: the same type code, sent instead of
 *                     SERVER when the connection uses the legacy version
 *   2  WELCOME        u64 heartbeat timeout (dqlite's default 15000,
 *                     config.c; go-dqlite ignores it, connector.go)
 *   3  SERVERS        u64 n, n x (u64 id, text address, u64 role) with
 *                     format 1; without the role with format 0 (our kind
 *                     SERVERS_V0)
 *   4  DB             u32 db id, u32 unused
 *   5  STMT           u32 db id, u32 stmt id, u64 number of parameters
 *   5  STMT_WITH_OFFSET  schema 1, the answer to PREPARE schema 1: the same
 *                     and u64 offset of the first byte after the statement
 *                     (dqlite HEAD response.h)
 *   6  RESULT         u64 last insert rowid, u64 rows affected
 *   7  ROWS           u64 column count c (at least 1), c x text column name,
 *                     rows, then one end-marker word:
 *                     0xffffffffffffffff DONE, the result set is complete;
 *                     0xeeeeeeeeeeeeeeee PART, another ROWS message follows
 *                     without a request, repeating the count and the names
 *                     (protocol.h DQLITE_RESPONSE_ROWS_DONE/_PART; gateway.c
 *                     query_batch; go-dqlite driver.go Rows.Next). No row
 *                     can be mistaken for a marker: 0xe and 0xf are not type
 *                     codes and unused nibbles are zero.
 *   8  EMPTY          u64 unused
 *   9  FILES          u64 n (dqlite sends 2: database, then WAL), n x (text
 *                     name, u64 size, size bytes, zero bytes up to a word
 *                     boundary). dqlite only sends sizes that are multiples
 *                     of 8 and go-dqlite skips no padding (Files.Next), so
 *                     a server must do the same; we pad on write and accept
 *                     padding on read, as the spec's "blob" says.
 *  10  METADATA       u64 failure domain, u64 weight
 *
 * Error codes seen in FAILURE: SQLite's extended codes, SQLITE_IOERR_NOT_LEADER
 * 10250 and SQLITE_IOERR_LEADERSHIP_LOST 10506 (legacy 8202 and 8458;
 * dqlite.h, go-dqlite driver.go), DQLITE_PROTO 1001, DQLITE_PARSE 1005.
 *
 * ## walraft's extensions
 *
 * Message types 64..127, in both directions, belong to walraft; dqlite has
 * used 0..19 for requests and 0..10 for responses. dqlite clients never send
 * these types, so a dqlite client sees nothing new. Header bytes 6-7 stay
 * unused (foreign clients might put anything there).
 *
 * Defined so far (schema 0 unless noted):
 *
 * 120 STATUS     request: u64 format, always 0. Response STATUS (120): text,
 *                a JSON object describing the node as it sees itself and
 *                the cluster (node/node.h documents the keys). It is what
 *                `walraft cluster status` shows.
 *
 * 121 READ_INDEX request: u64 id, u64 term, u64 leader id: the asker's
 *                node id, its current term and the leader it follows in
 *                it (all 0 from a client that is not a node). Response READ_INDEX (121): u64 index,
 *                u64 term. Asked of the leader by a follower serving a
 *                linearizable read: the index is the leader's commit index
 *                at the start of a read-index round that a majority
 *                confirmed (raft/read_index.h), where the asker's own term
 *                and leader count as its answer; the follower reads once it
 *                has applied it. Refused with FAILURE by a node that is not
 *                the ready leader.
 * 122 CONFIRM    request: u64 term, u64 leader id, u64 round. Response
 *                CONFIRM (122): u64 term, u64 leader id, u64 round: the
 *                receiver's current term and the leader it follows in it
 *                (0: none), and the round it answers. A leader's question
 *                to the voters in a read-index round; answering only reads
 *                the receiver's Raft state.
 *
 * Requests with an envelope: type 64 + t for t = EXEC (69), QUERY (70),
 * EXEC_SQL (72) and QUERY_SQL (73). The body is five words, then exactly
 * the body of request t (schema 1 likewise selects 32-bit parameter
 * counts):
 *
 *   u64 flags             bits 0-3: the consistency level of a read
 *                         (PROTO_LEVEL_*; 0 is the node's default);
 *                         bit 4: client_id and seq are set (exactly-once
 *                         writes); bit 5: a linearizable read that a
 *                         follower sends on to its leader, client_id
 *                         being the follower's node id and seq its
 *                         current term: like READ_INDEX's question, it
 *                         counts as the follower's answer to a read-index
 *                         round of a leader of that term (only the leader
 *                         it followed can be one); other bits are zero
 *   u64 bookmark          serve only once this node has applied this index
 *                         (0: no bookmark)
 *   u64 max_staleness_ms  level NONE: fail rather than answer from a node
 *                         that has not heard from a leader for this long
 *                         (0: no bound)
 *   u64 client_id, u64 seq   the write's identity for exactly-once retries
 *
 * The answers to them, in place of FAILURE, RESULT and ROWS:
 *
 *  64 FAILURE_EXT  u64 code, u64 flags (bit 0: definite, the request
 *                  certainly had no effect), u64 bookmark (the node's
 *                  applied index), text message
 *  70 RESULT_EXT   u64 last insert rowid, u64 rows affected, u64 bookmark
 *                  (the index at which the write is visible)
 *  71 ROWS_EXT     u64 bookmark (the index of the state read), then a ROWS
 *                  body; every message of a PART stream carries it
 *
 * Decoders refuse the other types of 64..127 with WR_UNSUPPORTED.
 *
 * ## What the decoders promise
 *
 * Decoding is the trust boundary: every length and count that the peer
 * controls is checked against what is left of the body (overflow-safe) and
 * against struct proto_limits before it is used. Decoders never read outside
 * the body, never allocate, and either accept a message whole or refuse it
 * with one of:
 *
 *   WR_CORRUPT      malformed: a field runs past the body, a text has no NUL,
 *                   an unknown value type, trailing bytes after the last
 *                   field, a ROWS body without an end marker, ...
 *   WR_TOOBIG       a limit in struct proto_limits was exceeded
 *   WR_UNSUPPORTED  unknown message type or schema version (including the
 *                   reserved walraft types)
 *
 * and a sentence in errmsg naming the message, the field and the check
 * ("decode EXEC_SQL: params: parameter 2 (BLOB): blob of 4096 bytes runs
 * past the 24 bytes left"). After a body error the framing is intact (the
 * header said how long the body was), so a server answers FAILURE and
 * carries on; after a header error (WR_TOOBIG) it closes the connection.
 *
 * Stricter than dqlite: bytes after the last field, which dqlite ignores,
 * are refused (a body is exactly its fields, optional ones included); so is
 * a text whose padding would run past the body (dqlite's lib/serialize.h
 * text__decode does not check that).
 *
 * Not checked, as in dqlite: the content of padding bytes (after texts,
 * blobs and type codes, and unused nibbles), of the unused header bytes and
 * of NULL values' words, and that text is valid UTF-8.
 *
 * Zero-copy: decoded texts, blobs and the lists below point into the body
 * that was decoded. They stay valid as long as that body is unchanged, and
 * must never be passed to value_clear() or free().
 */
#ifndef WR_PROTO_WIRE_H
#define WR_PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/value.h"

#define PROTO_WORD 8
#define PROTO_HEADER_SIZE 8

#define PROTO_VERSION 1
#define PROTO_VERSION_LEGACY 0x86104dd760433fe5ULL

#define PROTO_ROWS_DONE 0xffffffffffffffffULL
#define PROTO_ROWS_PART 0xeeeeeeeeeeeeeeeeULL

/* Largest body the header can describe: UINT32_MAX words. */
#define PROTO_MAX_BODY ((uint64_t)UINT32_MAX * PROTO_WORD)

/* Reserved for walraft's own message types (see the top of this file). */
#define PROTO_EXT_TYPE_FIRST 64
#define PROTO_EXT_TYPE_LAST 127

/* Value type codes on the wire. 1..5 equal VALUE_* and SQLITE_*. */
enum proto_type {
    PROTO_INTEGER = 1,
    PROTO_FLOAT = 2,
    PROTO_TEXT = 3,
    PROTO_BLOB = 4,
    PROTO_NULL = 5,
    PROTO_UNIXTIME = 9,
    PROTO_ISO8601 = 10,
    PROTO_BOOLEAN = 11
};

/* Node roles (protocol.h DQLITE_VOTER/STANDBY/SPARE). */
enum { PROTO_VOTER = 0, PROTO_STANDBY = 1, PROTO_SPARE = 2 };

/* CLUSTER formats and the DESCRIBE format (protocol.h). */
enum {
    PROTO_CLUSTER_FORMAT_V0 = 0, /* id and address */
    PROTO_CLUSTER_FORMAT_V1 = 1, /* id, address and role */
    PROTO_DESCRIBE_FORMAT_V0 = 0
};

/* Consistency levels in an envelope's flags (bits 0-3) and the flags'
 * other bits (see the top). */
enum {
    PROTO_LEVEL_DEFAULT = 0,
    PROTO_LEVEL_NONE = 1,
    PROTO_LEVEL_WEAK = 2,
    PROTO_LEVEL_LINEARIZABLE = 3,
    PROTO_LEVEL_STRONG = 4,
    PROTO_LEVEL_MASK = 0xf,
    PROTO_FLAG_SESSION = 1 << 4, /* Request: client_id and seq are set. */
    PROTO_FLAG_VOUCHED = 1 << 5, /* Request: a follower's linearizable read;
                                  * client_id is its id, seq its term. */
    PROTO_FLAG_DEFINITE = 1 << 0 /* FAILURE_EXT: it did not happen. */
};

/* Failure codes a server sends besides SQLite's own (see the top). */
enum {
    PROTO_ERR_PROTO = 1001,
    PROTO_ERR_PARSE = 1005,
    PROTO_ERR_NOT_LEADER = 10250,
    PROTO_ERR_LEADERSHIP_LOST = 10506,
    PROTO_ERR_NOT_LEADER_LEGACY = 8202,
    PROTO_ERR_LEADERSHIP_LOST_LEGACY = 8458
};

/*
 * Limits on what a peer may send. Decoders refuse anything beyond them with
 * WR_TOOBIG. Pass NULL wherever a limits pointer is taken to get the
 * defaults.
 */
struct proto_limits {
    uint64_t max_message; /* Body bytes (header check and every decode). */
    uint64_t max_text;    /* Bytes of one text, NUL excluded: SQL, names,
                             addresses, TEXT and ISO8601 values, messages. */
    uint64_t max_blob;    /* Bytes of one BLOB value. (FILES contents are
                             bounded by max_message only.) */
    uint32_t max_params;  /* Parameters in one request. */
    uint32_t max_columns; /* Columns in one ROWS message. */
};

/* 64 MiB messages, 16 MiB texts, 32 MiB blobs; SQLite's own ceilings for
 * bound parameters (SQLITE_MAX_VARIABLE_NUMBER, 32766) and columns
 * (SQLITE_MAX_COLUMN can be raised to at most 32767). A client that dumps
 * big databases raises max_message. */
#define PROTO_LIMITS_DEFAULT                                             \
    {                                                                    \
        .max_message = 64u << 20, .max_text = 16u << 20,                 \
        .max_blob = 32u << 20, .max_params = 32766, .max_columns = 32767 \
    }

void proto_limits_default(struct proto_limits *lim);

/*
 * Values.
 */

/* A value as it travels: the SQL value and its wire type. UNIXTIME and
 * BOOLEAN carry an INTEGER (BOOLEAN as 0 or 1), ISO8601 carries a TEXT.
 *
 * On encode, @wire is a hint: 0 means "the value's own type"; a hint that
 * does not fit the value (BOOLEAN for a TEXT, say) is ignored and the value's
 * own type is sent, so a declared column type can never make encoding fail
 * or lie. On decode, @wire is what the peer sent. */
struct proto_value {
    int wire;
    struct value v;
};

/* The wire type dqlite gives a result column (query.c value_type): for a
 * declared type of exactly DATETIME, DATE or TIMESTAMP (any case), an
 * INTEGER value becomes UNIXTIME and a TEXT value ISO8601; for BOOLEAN, an
 * INTEGER value becomes BOOLEAN. Everything else keeps @sqlite_type (1..5).
 *
 * Where dqlite asserts, we keep the value's type: a TEXT in a BOOLEAN column
 * is TEXT, a FLOAT or BLOB in a DATETIME column stays FLOAT or BLOB, and NULL
 * is always NULL (dqlite sends "" as ISO8601 for a NULL date, which
 * go-dqlite reads back as nil anyway, and false for a NULL boolean, which
 * loses the NULL). Returns 0 if @sqlite_type is not 1..5. @decl_type may be
 * NULL (an expression column). */
int proto_column_type(const char *decl_type, int sqlite_type);

/* The type the encoder would send for @v given @hint (see struct
 * proto_value), or 0 if v->type is not a VALUE_* type. */
int proto_wire_type(const struct value *v, int hint);

/*
 * List fields. The same struct serves both directions: to encode, fill the
 * count and the array pointer; a decoder fills the count and a private view
 * of the body (the array pointer is NULL) that the matching iterator walks.
 * A decoder has already checked every item, so iterators cannot fail. The
 * parameter, server and file iterators walk either form; the row iterator
 * only decoded rows. A decoded list handed back to an encoder is written
 * from its view (the checked bytes are copied), so a decoded message can be
 * re-encoded, to forward it say.
 */

struct proto_span {
    const uint8_t *p;
    size_t len;
};

/* Parameters of EXEC, QUERY, EXEC_SQL, QUERY_SQL. With schema 0 at most 255
 * can be encoded (use proto_params_schema()). */
struct proto_params {
    uint32_t n;
    const struct proto_value *values; /* Encode: n values. */
    struct proto_span types;          /* Decode: n type codes. */
    struct proto_span data;           /* Decode: the values. */
};

/* Schema to send @n parameters with: 0 if they fit a u8 count, else 1. */
uint8_t proto_params_schema(uint32_t n);

struct proto_params_iter {
    const struct proto_params *params;
    uint32_t i;
    const uint8_t *p;
};

void proto_params_iter_init(struct proto_params_iter *it,
                            const struct proto_params *params);
/* Next parameter, or false after the last. Texts and blobs point into the
 * decoded body. */
bool proto_params_next(struct proto_params_iter *it, struct proto_value *out);

/* One server in SERVERS (role is absent on the wire with format 0). */
struct proto_node {
    uint64_t id;
    const char *address;
    uint64_t role;
};

struct proto_nodes {
    uint64_t n;
    const struct proto_node *nodes; /* Encode: n nodes. */
    struct proto_span raw;          /* Decode: the n entries. */
    bool with_role;                 /* Decode: set from the kind. */
};

/* One file in FILES. */
struct proto_file {
    const char *name;
    uint64_t size;
    const void *data;
};

struct proto_files {
    uint64_t n;
    const struct proto_file *files; /* Encode: n files. */
    struct proto_span raw;          /* Decode: the n entries. */
};

/* Iterator over a struct proto_nodes or proto_files, encoded or decoded. */
struct proto_iter {
    const void *array; /* The list's array, if it has one. */
    const uint8_t *p;  /* Otherwise the next entry in the body. */
    uint64_t i;
    uint64_t n;
    bool with_role;
};

void proto_nodes_iter_init(struct proto_iter *it, const struct proto_nodes *l);
bool proto_nodes_next(struct proto_iter *it, struct proto_node *out);
void proto_files_iter_init(struct proto_iter *it, const struct proto_files *l);
bool proto_files_next(struct proto_iter *it, struct proto_file *out);

/* The body of one ROWS message.
 *
 * To encode a whole result set in one message, fill n_cols, names, n_rows,
 * values (row by row, n_rows x n_cols), wire_types (NULL, or one hint per
 * value, same layout) and marker (PROTO_ROWS_DONE or PROTO_ROWS_PART). To
 * stream, use struct proto_rows_writer below instead.
 *
 * A decoder fills n_cols, marker, and views of the names and the rows; read
 * them with proto_rows_names() and proto_rows_next(). */
struct proto_rowset {
    uint64_t n_cols;
    const char *const *names;   /* Encode. */
    size_t n_rows;              /* Encode; decode: rows in the message. */
    const struct value *values; /* Encode. */
    const uint8_t *wire_types;  /* Encode, optional. */
    uint64_t marker;
    struct proto_span names_raw; /* Decode. */
    struct proto_span rows_raw;  /* Decode: the rows, marker excluded. */
};

/* Fill @names (n_cols slots, caller-allocated) with the column names: for a
 * decoded rowset they point into the body. */
void proto_rows_names(const struct proto_rowset *rs, const char **names);

struct proto_rows_iter {
    const struct proto_rowset *rs;
    const uint8_t *p;
    const uint8_t *end;
};

void proto_rows_iter_init(struct proto_rows_iter *it,
                          const struct proto_rowset *rs);
/* Decode the next row into @row (n_cols slots, caller-allocated; texts and
 * blobs point into the body), or return false after the last row of this
 * message; then rs->marker says whether another ROWS message follows
 * (PROTO_ROWS_PART) or not (PROTO_ROWS_DONE). */
bool proto_rows_next(struct proto_rows_iter *it, struct proto_value *row);

/*
 * The X-macro tables: one line per message type, one per field. Everything
 * else (structs, sizes, encoders, decoders, dispatch) is generated from them.
 *
 * Field kinds: U32, U64, TEXT (const char *, NUL-terminated), OPT_U64 (last
 * field only; absent when the body ends before it), PARAMS (last field only;
 * absent when the body ends before it), NODES / NODES0 (u64 count then the
 * servers with / without role), FILES, ROWSET (the whole ROWS body).
 */

#define PROTO_FIELDS_REQ_LEADER(F) F(U64, unused)
#define PROTO_FIELDS_REQ_CLIENT(F) F(U64, id)
#define PROTO_FIELDS_REQ_HEARTBEAT(F) F(U64, timestamp)
#define PROTO_FIELDS_REQ_OPEN(F) F(TEXT, name) F(U64, flags) F(TEXT, vfs)
#define PROTO_FIELDS_REQ_PREPARE(F) F(U64, db_id) F(TEXT, sql)
#define PROTO_FIELDS_REQ_EXEC(F) F(U32, db_id) F(U32, stmt_id) F(PARAMS, params)
#define PROTO_FIELDS_REQ_QUERY(F) \
    F(U32, db_id) F(U32, stmt_id) F(PARAMS, params)
#define PROTO_FIELDS_REQ_FINALIZE(F) F(U32, db_id) F(U32, stmt_id)
#define PROTO_FIELDS_REQ_EXEC_SQL(F) \
    F(U64, db_id) F(TEXT, sql) F(PARAMS, params)
#define PROTO_FIELDS_REQ_QUERY_SQL(F) \
    F(U64, db_id) F(TEXT, sql) F(PARAMS, params)
#define PROTO_FIELDS_REQ_INTERRUPT(F) F(U64, db_id)
#define PROTO_FIELDS_REQ_CONNECT(F) F(U64, id) F(TEXT, address)
#define PROTO_FIELDS_REQ_ADD(F) F(U64, id) F(TEXT, address)
#define PROTO_FIELDS_REQ_ASSIGN(F) F(U64, id) F(OPT_U64, role)
#define PROTO_FIELDS_REQ_REMOVE(F) F(U64, id)
#define PROTO_FIELDS_REQ_DUMP(F) F(TEXT, name)
#define PROTO_FIELDS_REQ_CLUSTER(F) F(U64, format)
#define PROTO_FIELDS_REQ_TRANSFER(F) F(U64, id)
#define PROTO_FIELDS_REQ_DESCRIBE(F) F(U64, format)
#define PROTO_FIELDS_REQ_WEIGHT(F) F(U64, weight)
#define PROTO_FIELDS_REQ_STATUS(F) F(U64, format)
#define PROTO_FIELDS_REQ_READ_INDEX(F) \
    F(U64, id) F(U64, term) F(U64, leader_id)
#define PROTO_FIELDS_REQ_CONFIRM(F) \
    F(U64, term) F(U64, leader_id) F(U64, round)
/* walraft's envelope (see the top of this file), then the dqlite body. */
#define PROTO__ENVELOPE(F)                                         \
    F(U64, flags) F(U64, bookmark) F(U64, max_staleness_ms)         \
        F(U64, client_id) F(U64, seq)
#define PROTO_FIELDS_REQ_EXEC_EXT(F) \
    PROTO__ENVELOPE(F) PROTO_FIELDS_REQ_EXEC(F)
#define PROTO_FIELDS_REQ_QUERY_EXT(F) \
    PROTO__ENVELOPE(F) PROTO_FIELDS_REQ_QUERY(F)
#define PROTO_FIELDS_REQ_EXEC_SQL_EXT(F) \
    PROTO__ENVELOPE(F) PROTO_FIELDS_REQ_EXEC_SQL(F)
#define PROTO_FIELDS_REQ_QUERY_SQL_EXT(F) \
    PROTO__ENVELOPE(F) PROTO_FIELDS_REQ_QUERY_SQL(F)

/* X(lower, UPPER, type code, highest schema accepted) */
#define PROTO_REQUESTS(X)          \
    X(leader, LEADER, 0, 0)        \
    X(client, CLIENT, 1, 0)        \
    X(heartbeat, HEARTBEAT, 2, 0)  \
    X(open, OPEN, 3, 0)            \
    X(prepare, PREPARE, 4, 1)      \
    X(exec, EXEC, 5, 1)            \
    X(query, QUERY, 6, 1)          \
    X(finalize, FINALIZE, 7, 0)    \
    X(exec_sql, EXEC_SQL, 8, 1)    \
    X(query_sql, QUERY_SQL, 9, 1)  \
    X(interrupt, INTERRUPT, 10, 0) \
    X(connect, CONNECT, 11, 0)     \
    X(add, ADD, 12, 0)             \
    X(assign, ASSIGN, 13, 0)       \
    X(remove, REMOVE, 14, 0)       \
    X(dump, DUMP, 15, 0)           \
    X(cluster, CLUSTER, 16, 0)     \
    X(transfer, TRANSFER, 17, 0)   \
    X(describe, DESCRIBE, 18, 0)   \
    X(weight, WEIGHT, 19, 0)       \
    X(exec_ext, EXEC_EXT, 69, 1)           \
    X(query_ext, QUERY_EXT, 70, 1)         \
    X(exec_sql_ext, EXEC_SQL_EXT, 72, 1)   \
    X(query_sql_ext, QUERY_SQL_EXT, 73, 1) \
    X(status, STATUS, 120, 0)              \
    X(read_index, READ_INDEX, 121, 0)      \
    X(confirm, CONFIRM, 122, 0)

#define PROTO_FIELDS_RESP_FAILURE(F) F(U64, code) F(TEXT, message)
#define PROTO_FIELDS_RESP_SERVER(F) F(U64, id) F(TEXT, address)
#define PROTO_FIELDS_RESP_SERVER_LEGACY(F) F(TEXT, address)
#define PROTO_FIELDS_RESP_WELCOME(F) F(U64, heartbeat_timeout)
#define PROTO_FIELDS_RESP_SERVERS(F) F(NODES, servers)
#define PROTO_FIELDS_RESP_SERVERS_V0(F) F(NODES0, servers)
#define PROTO_FIELDS_RESP_DB(F) F(U32, id) F(U32, unused)
#define PROTO_FIELDS_RESP_STMT(F) F(U32, db_id) F(U32, id) F(U64, params)
#define PROTO_FIELDS_RESP_STMT_WITH_OFFSET(F) \
    F(U32, db_id) F(U32, id) F(U64, params) F(U64, offset)
#define PROTO_FIELDS_RESP_RESULT(F) F(U64, last_insert_id) F(U64, rows_affected)
#define PROTO_FIELDS_RESP_ROWS(F) F(ROWSET, rows)
#define PROTO_FIELDS_RESP_EMPTY(F) F(U64, unused)
#define PROTO_FIELDS_RESP_FILES(F) F(FILES, files)
#define PROTO_FIELDS_RESP_METADATA(F) F(U64, failure_domain) F(U64, weight)
#define PROTO_FIELDS_RESP_STATUS(F) F(TEXT, json)
#define PROTO_FIELDS_RESP_FAILURE_EXT(F) \
    F(U64, code) F(U64, flags) F(U64, bookmark) F(TEXT, message)
#define PROTO_FIELDS_RESP_RESULT_EXT(F) \
    F(U64, last_insert_id) F(U64, rows_affected) F(U64, bookmark)
#define PROTO_FIELDS_RESP_ROWS_EXT(F) F(U64, bookmark) F(ROWSET, rows)
#define PROTO_FIELDS_RESP_READ_INDEX(F) F(U64, index) F(U64, term)
#define PROTO_FIELDS_RESP_CONFIRM(F) \
    F(U64, term) F(U64, leader_id) F(U64, round)

/* X(lower, UPPER, type code, schema). Several kinds share a type code; the
 * first listed is the one chosen when the receiver does not say which it
 * expects. */
#define PROTO_RESPONSES(X)                      \
    X(failure, FAILURE, 0, 0)                   \
    X(server, SERVER, 1, 0)                     \
    X(server_legacy, SERVER_LEGACY, 1, 0)       \
    X(welcome, WELCOME, 2, 0)                   \
    X(servers, SERVERS, 3, 0)                   \
    X(servers_v0, SERVERS_V0, 3, 0)             \
    X(db, DB, 4, 0)                             \
    X(stmt, STMT, 5, 0)                         \
    X(stmt_with_offset, STMT_WITH_OFFSET, 5, 1) \
    X(result, RESULT, 6, 0)                     \
    X(rows, ROWS, 7, 0)                         \
    X(empty, EMPTY, 8, 0)                       \
    X(files, FILES, 9, 0)                       \
    X(metadata, METADATA, 10, 0)                \
    X(failure_ext, FAILURE_EXT, 64, 0)          \
    X(result_ext, RESULT_EXT, 70, 0)            \
    X(rows_ext, ROWS_EXT, 71, 0)                \
    X(status, STATUS, 120, 0)                   \
    X(read_index, READ_INDEX, 121, 0)           \
    X(confirm, CONFIRM, 122, 0)

/* C types of the field kinds. */
#define PROTO__CTYPE_U32 uint32_t
#define PROTO__CTYPE_U64 uint64_t
#define PROTO__CTYPE_TEXT const char *
#define PROTO__CTYPE_OPT_U64 struct proto_opt_u64
#define PROTO__CTYPE_PARAMS struct proto_params
#define PROTO__CTYPE_NODES struct proto_nodes
#define PROTO__CTYPE_NODES0 struct proto_nodes
#define PROTO__CTYPE_FILES struct proto_files
#define PROTO__CTYPE_ROWSET struct proto_rowset
#define PROTO__FIELD(KIND, name) PROTO__CTYPE_##KIND name;

struct proto_opt_u64 {
    bool present;
    uint64_t value;
};

/* struct proto_req_leader { uint64_t unused; }; and so on. */
#define PROTO__REQ_STRUCT(lower, UPPER, code_, schema_) \
    struct proto_req_##lower {                          \
        PROTO_FIELDS_REQ_##UPPER(PROTO__FIELD)          \
    };
PROTO_REQUESTS(PROTO__REQ_STRUCT)
#undef PROTO__REQ_STRUCT

#define PROTO__RESP_STRUCT(lower, UPPER, code_, schema_) \
    struct proto_resp_##lower {                          \
        PROTO_FIELDS_RESP_##UPPER(PROTO__FIELD)          \
    };
PROTO_RESPONSES(PROTO__RESP_STRUCT)
#undef PROTO__RESP_STRUCT

/* Request kinds are the type codes: PROTO_REQ_LEADER = 0, ... */
enum proto_request_type {
#define PROTO__REQ_ENUM(lower, UPPER, code_, schema_) PROTO_REQ_##UPPER = code_,
    PROTO_REQUESTS(PROTO__REQ_ENUM)
#undef PROTO__REQ_ENUM
};

/* Response kinds are positions in PROTO_RESPONSES, not type codes (SERVER
 * and SERVER_LEGACY share code 1); see proto_response_wire_type(). */
enum proto_response_kind {
#define PROTO__RESP_ENUM(lower, UPPER, code_, schema_) PROTO_RESP_##UPPER,
    PROTO_RESPONSES(PROTO__RESP_ENUM)
#undef PROTO__RESP_ENUM
        PROTO_RESP__COUNT
};

/* For proto_response_decode(): accept whatever type arrives. */
#define PROTO_RESP_ANY (-1)

struct proto_request {
    uint8_t type;   /* enum proto_request_type */
    uint8_t schema; /* 0, or 1 where the table allows it */
    union {
#define PROTO__REQ_MEMBER(lower, UPPER, code_, schema_) \
    struct proto_req_##lower lower;
        PROTO_REQUESTS(PROTO__REQ_MEMBER)
#undef PROTO__REQ_MEMBER
    };
};

struct proto_response {
    int kind; /* enum proto_response_kind */
    union {
#define PROTO__RESP_MEMBER(lower, UPPER, code_, schema_) \
    struct proto_resp_##lower lower;
        PROTO_RESPONSES(PROTO__RESP_MEMBER)
#undef PROTO__RESP_MEMBER
    };
};

/* "LEADER", "EXEC_SQL", ...; "unknown" for other values. Static strings. */
const char *proto_request_name(int type);
const char *proto_response_name(int kind);
/* Type code and schema a response kind is sent with, or -1 if unknown. */
int proto_response_wire_type(int kind);
int proto_response_schema(int kind);

/* True when @r is a ROWS or ROWS_EXT message ending in PROTO_ROWS_PART:
 * another message of the same result set follows. */
bool proto_response_continues(const struct proto_response *r);

/*
 * Framing.
 */

struct proto_header {
    uint32_t words;
    uint8_t type;
    uint8_t schema;
    uint16_t extra;
};

/* Append the protocol version word. Returns 0 or WR_NOMEM. */
int proto_version_encode(struct buf *b, uint64_t version);

/* Read the version word at @in (8 bytes). Returns 0 if it is PROTO_VERSION
 * or PROTO_VERSION_LEGACY, else WR_UNSUPPORTED with @errmsg set (close the
 * connection: go-dqlite then retries with the legacy version). */
int proto_version_decode(const uint8_t *in, uint64_t *version, char *errmsg);

void proto_header_encode(uint8_t *out, const struct proto_header *h);

/* Read the header at @in (8 bytes) and set *body_len to the body's size in
 * bytes. Returns 0, or WR_TOOBIG if the body is larger than
 * lim->max_message: the connection cannot be resynchronised, close it. */
int proto_header_decode(const uint8_t *in,
                        const struct proto_limits *lim,
                        struct proto_header *h,
                        size_t *body_len,
                        char *errmsg);

/*
 * Messages.
 *
 * Encoders append one whole message (header and body) to @b; on error @b is
 * left as it was. They return 0, WR_NOMEM, WR_INVALID (bad input, with
 * @errmsg: an unknown type or schema, more than 255 parameters with schema 0,
 * a text value containing NUL, a ROWS without columns, ...) or WR_TOOBIG (the
 * body would exceed PROTO_MAX_BODY). Nothing is kept from @r.
 *
 * Decoders take the header read by proto_header_decode() and the body it
 * announced (@len must be h->words * 8). They return 0, WR_CORRUPT,
 * WR_TOOBIG or WR_UNSUPPORTED (see the top of this file) with @errmsg set,
 * and WR_INVALID if @len does not match the header. *out points into @body
 * (zero-copy); nothing needs freeing.
 */

int proto_request_encode(struct buf *b,
                         const struct proto_request *r,
                         char *errmsg);

int proto_request_decode(const struct proto_header *h,
                         const void *body,
                         size_t len,
                         const struct proto_limits *lim,
                         struct proto_request *out,
                         char *errmsg);

int proto_response_encode(struct buf *b,
                          const struct proto_response *r,
                          char *errmsg);

/* @expect is the kind the caller waits for, or PROTO_RESP_ANY. FAILURE and
 * FAILURE_EXT are always accepted. Any other type than @expect's is refused with WR_CORRUPT
 * (the conversation is out of step), a schema other than @expect's with
 * WR_UNSUPPORTED. With PROTO_RESP_ANY the first kind in PROTO_RESPONSES with
 * the message's type and schema is decoded (SERVER, SERVERS, STMT). */
int proto_response_decode(const struct proto_header *h,
                          const void *body,
                          size_t len,
                          int expect,
                          const struct proto_limits *lim,
                          struct proto_response *out,
                          char *errmsg);

/*
 * Streaming ROWS: one result set as a series of messages, each at most about
 * @budget bytes of body, all but the last ending in PROTO_ROWS_PART (the
 * shape dqlite's query__batch produces).
 *
 *     proto_rows_begin(&w, buf, n_cols, names, budget, errmsg);
 *     while (have a row) {
 *         proto_rows_add(&w, row, types, &added, errmsg);
 *         if (!added) {                       -- this message is full
 *             proto_rows_finish(&w, true);    -- PART
 *             send buf; proto_rows_begin(...); add the same row again
 *         }
 *     }
 *     proto_rows_finish(&w, false);           -- DONE
 *
 * A row is always added to a message that has none yet, however big, so
 * every message makes progress; otherwise a row is added only if the body,
 * end marker included, stays within @budget. The writer keeps pointers to
 * nothing but @b.
 */
struct proto_rows_writer {
    struct buf *buf;
    size_t start; /* Offset of this message's header in buf. */
    size_t budget;
    unsigned n_cols;
    size_t n_rows;
    bool ext; /* ROWS_EXT: the body starts with a bookmark. */
};

/* Start a ROWS message at the end of @b: the header (completed by finish),
 * the column count and the names (NULL names are sent as ""). Returns 0,
 * WR_NOMEM or WR_INVALID (no columns). On error @b is unchanged. */
int proto_rows_begin(struct proto_rows_writer *w,
                     struct buf *b,
                     unsigned n_cols,
                     const char *const *names,
                     size_t budget,
                     char *errmsg);

/* The same for a ROWS_EXT message (walraft's extension): the body starts
 * with @bookmark. proto_rows_add() and proto_rows_finish() work on it
 * alike. */
int proto_rows_begin_ext(struct proto_rows_writer *w,
                         struct buf *b,
                         uint64_t bookmark,
                         unsigned n_cols,
                         const char *const *names,
                         size_t budget,
                         char *errmsg);

/* Append one row of n_cols values; @wire_types is NULL or n_cols hints.
 * Sets *added. Returns 0, WR_NOMEM, WR_INVALID (a bad value) or WR_TOOBIG
 * (the message would exceed PROTO_MAX_BODY). On error the message is as it
 * was and can still be finished. */
int proto_rows_add(struct proto_rows_writer *w,
                   const struct value *row,
                   const uint8_t *wire_types,
                   bool *added,
                   char *errmsg);

/* Append the end marker (PART if @more, else DONE) and fill in the header.
 * Returns 0 or WR_NOMEM (then the message is removed from the buffer). */
int proto_rows_finish(struct proto_rows_writer *w, bool more);

/* Remove the unfinished message from the buffer. */
void proto_rows_abort(struct proto_rows_writer *w);

/* One message holding as many of @n_rows rows (values row by row, optional
 * hints likewise) as fit in @budget, at least one: *n_done is set to how
 * many, and the marker is PART if *n_done < n_rows. Call again with the
 * remaining rows. Same returns as the encoders. */
int proto_rows_encode(struct buf *b,
                      unsigned n_cols,
                      const char *const *names,
                      const struct value *values,
                      const uint8_t *wire_types,
                      size_t n_rows,
                      size_t budget,
                      size_t *n_done,
                      char *errmsg);

#endif /* WR_PROTO_WIRE_H */

"""learning: the library search's lexicon (PostgreSQL): every lexeme of every object's search vector, so that the
last word of a query, matched as a prefix while the user types, is sent to the full-text index as the few whole
lexemes it stands for (``to`` → ``to | toan``) instead of a prefix term.

A prefix term (``to:*``) makes GIN read every posting list it covers in full into a bitmap, and GIN's fast scan
cannot skip through it; whole lexemes keep the fast scan. On a million objects that halved the index's part of a
search. Kept by triggers in the same transaction as the object: a statement trigger with the inserted rows (one
``INSERT … SELECT DISTINCT`` for a whole ``COPY``) and a row trigger when an object's text changes. Lexemes are
never removed: one that no object holds any more matches nothing, so the lexicon is always a superset of the
index's. ``COLLATE "C"``: a prefix is a byte range of the primary key. Inserted in order: two writers adding the
same new lexemes wait for each other in one order, never in a cycle.

SQLite has nothing to add: FTS5 reads a prefix from its own term index.

Revision ID: learning_search_lexemes
Revises: learning_worker_leases
Create Date: 2026-12-10
"""

from alembic import op

revision = "learning_search_lexemes"
down_revision = "learning_worker_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('CREATE TABLE learning_search_lexemes (lexeme text COLLATE "C" PRIMARY KEY)')
    op.execute(
        "CREATE FUNCTION learning_search_lexemes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO learning_search_lexemes (lexeme) "
        "SELECT DISTINCT unnest(tsvector_to_array(search_vector)) AS lexeme FROM inserted_objects "
        "ORDER BY lexeme ON CONFLICT DO NOTHING; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE FUNCTION learning_search_lexemes_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO learning_search_lexemes (lexeme) "
        "SELECT unnest(tsvector_to_array(NEW.search_vector)) ORDER BY 1 ON CONFLICT DO NOTHING; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER learning_search_lexemes_ai AFTER INSERT ON learning_objects "
        "REFERENCING NEW TABLE AS inserted_objects FOR EACH STATEMENT EXECUTE FUNCTION learning_search_lexemes_inserted()"
    )
    # only when an object's words change: a view or a download counted is an UPDATE of the same row too
    op.execute(
        "CREATE TRIGGER learning_search_lexemes_au AFTER UPDATE OF search_text ON learning_objects FOR EACH ROW "
        "WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector) EXECUTE FUNCTION learning_search_lexemes_changed()"
    )
    op.execute(
        "INSERT INTO learning_search_lexemes (lexeme) "
        "SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM learning_objects ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER learning_search_lexemes_au ON learning_objects")
    op.execute("DROP TRIGGER learning_search_lexemes_ai ON learning_objects")
    op.execute("DROP FUNCTION learning_search_lexemes_changed()")
    op.execute("DROP FUNCTION learning_search_lexemes_inserted()")
    op.execute("DROP TABLE learning_search_lexemes")

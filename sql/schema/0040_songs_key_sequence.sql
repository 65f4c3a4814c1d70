/* 0040 - dbo.SongKeys: the numbers of dbo.Songs' internal clustered key (0041-0046).

   Why Songs gets a second key at all (the review of 2026-11-30, M7; issue #18, section 4): Songs
   is clustered on Id, a random NEWID() since 0011, and api.ImportSongs loads songs at machine rate.
   Random inserts land all over a clustered index: each full page they hit splits (logged), pages
   stay about 2/3 full, and the 16-byte key is carried by each of the five nonclustered indexes.
   dbo.ProcessingJobs already has the answer (0003, 0011): an internal bigint clustered key that
   grows with every insert, and the random public uniqueidentifier under a UNIQUE nonclustered
   constraint. Songs gets the same; the bigint never leaves the database (no procedure returns it).

   Why a SEQUENCE and not IDENTITY: an IDENTITY column can only be added as a new column, and
   adding one to a populated table fills every row in the ALTER itself, a size-of-data operation
   under a Sch-M lock (the linter's module docstring lists it among what it cannot see). A nullable
   column whose default is NEXT VALUE FOR a sequence is added by a catalog change alone; new rows
   take the next number the way IDENTITY would, old rows are numbered in small batches (0042).
   NEXT VALUE FOR is allowed in a DEFAULT constraint, and an INSERT ... SELECT ... ORDER BY (as in
   api.ImportSongs) takes the values in the ORDER BY's order (NEXT VALUE FOR (Transact-SQL),
   "Using a sequence object in a default constraint"); concurrent inserts never get the same value.
   No CACHE clause: SQL Server's default cache (a gap after an unclean shutdown, as IDENTITY's), and
   on Babelfish PostgreSQL's default of 1, since a PostgreSQL sequence cache is per session and
   would hand pooled connections interleaved ranges (keys not in insert order).

   Creating a new object locks no existing table. On Babelfish, which has no ownership chaining, the
   web role inserts into dbo.Songs with its own rights (0009), so it needs UPDATE on the sequence
   (PostgreSQL's nextval() right); on SQL Server the default is evaluated inside the ownership chain
   of the dbo-owned procedure and table, and no role gets a right on it. */
CREATE SEQUENCE dbo.SongKeys AS bigint START WITH 1 INCREMENT BY 1 NO CYCLE;
GO
{% if engine == "babelfish" %}
GRANT UPDATE ON dbo.SongKeys TO songsdb_web;
GO
{% endif %}

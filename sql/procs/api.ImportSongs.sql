/* api.ImportSongs - registers many uploaded files at once: one call and one transaction per chunk.

   @Songs is a JSON array of 1 to 4000 objects with the keys of api.CreateSong's parameters:
   fileId, fileName (both required), title, artist, album, fileSize, duration, fileExtension,
   originalFileName, metadata (an object). Every row is checked by the same rules as
   api.CreateSong; a row that breaks one is reported with its position, the key at fault and the
   catalogue number (50001 missing, 50002 too long or out of range, 50004 not an object, 50102 a
   fileId given twice in this chunk) and is not written, while the good rows are. A row whose
   fileId is already stored is 'skipped' (@OnDuplicate = 'skip', the default) or has the values it
   gives written over the stored ones (@OnDuplicate = 'update'; keys it leaves out or sets to null
   keep their stored values). All the chunk's writes and their audit rows are one transaction:
   the chunk is written whole or not at all.

   At most 4000 rows: SQL Server tries to escalate a statement's row locks to one table lock when it
   holds 5,000 locks on one index or table ("Lock escalation", Microsoft's transaction locking and row
   versioning guide), and a full chunk locks one key per row on PK_Songs, UQ_Songs_FileId (key-range
   locks) and PK_AuditLog; an escalated table lock on dbo.AuditLog, which every audited call writes,
   would stall the whole application until the chunk commits. 4000 stays below it with a margin, as
   dbo.sp_CleanupOldData's @BatchSize does (songsdb/bulk.py's MAX_CHUNK is the same number).

   Audit: one row per song created ('created') or updated ('updated'), as api.CreateSong and
   api.UpdateSong write, so a song's audit trail reads the same however it arrived; an import is
   recognisable by "import": true in Details. Inserted set-based in the chunk's transaction.
   A song stored by another call between this chunk's check and its insert fails the chunk with
   50102 and writes nothing of it; calling again with the same chunk then skips (or updates) it.

   Returns: Ordinal, FileId, Outcome, SongId, ErrorNumber, Parameter, Error
   (one row per element of @Songs, in order; Ordinal is its 0-based position; Outcome is created,
   updated, skipped or failed; SongId is NULL for a failed row; ErrorNumber, Parameter and Error
   say why a row failed)
   Errors: 50001 @Songs missing; 50002 more than 4000 rows or none; 50003 @OnDuplicate unknown;
           50004 @Songs not a JSON array; 50102 a fileId stored by a concurrent call meanwhile.
   Example: EXEC api.ImportSongs @Songs = N'[{"fileId": "f1", "fileName": "a.mp3"}]'; */
IF OBJECT_ID(N'api.ImportSongs', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.ImportSongs AS RETURN 0;');
GO
ALTER PROCEDURE api.ImportSongs
    @Songs nvarchar(max),
    @OnDuplicate nvarchar(4000) = N'skip',
    @RequestId nvarchar(4000) = NULL
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC core.CheckJson @Name = N'@Songs', @Value = @Songs, @Shape = 'array', @Required = 1;
    EXEC core.CheckOneOf @Name = N'@OnDuplicate', @Value = @OnDuplicate, @Allowed = N'skip,update', @Required = 1;
    EXEC core.CheckText @Name = N'@RequestId', @Value = @RequestId, @MaxLength = 100;

    DECLARE @Rows TABLE (
        Ordinal int NOT NULL PRIMARY KEY,
        IsObject bit NOT NULL,
        FileId nvarchar(max) NULL,
        FileName nvarchar(max) NULL,
        Title nvarchar(max) NULL,
        Artist nvarchar(max) NULL,
        Album nvarchar(max) NULL,
        FileSize nvarchar(max) NULL,
        Duration nvarchar(max) NULL,
        FileExtension nvarchar(max) NULL,
        OriginalFileName nvarchar(max) NULL,
        Metadata nvarchar(max) NULL,
        MetadataScalar nvarchar(max) NULL,  -- metadata given as anything but an object
        ErrorNumber int NULL,
        Parameter nvarchar(50) NULL,
        Error nvarchar(2048) NULL,
        SongId uniqueidentifier NULL,
        Outcome varchar(10) NULL
    );
    INSERT INTO @Rows (
        Ordinal, IsObject, FileId, FileName, Title, Artist, Album, FileSize, Duration, FileExtension,
        OriginalFileName, Metadata, MetadataScalar
    )
    SELECT
        CAST(o.[key] AS int),
        CASE WHEN o.[type] = 5 THEN 1 ELSE 0 END,
        core.JsonText(f.FileId),
        core.JsonText(f.FileName),
        core.JsonText(f.Title),
        core.JsonText(f.Artist),
        core.JsonText(f.Album),
        f.FileSize,
        f.Duration,
        core.JsonText(f.FileExtension),
        core.JsonText(f.OriginalFileName),
        CASE WHEN o.[type] = 5 THEN JSON_QUERY(o.[value], '$.metadata') END,
        -- a string, number or true/false (JSON_VALUE), or an array: anything but an object
        CASE
            WHEN o.[type] = 5
                THEN COALESCE(
                    JSON_VALUE(o.[value], '$.metadata'),
                    CASE WHEN LEFT(JSON_QUERY(o.[value], '$.metadata'), 1) = N'[' THEN N'[' END
                )
        END
    FROM OPENJSON(@Songs) AS o
    -- Babelfish 4.2 cuts OPENJSON ... WITH (x nvarchar(max)) values at 4000 characters. That only
    -- changes the length an error reports for the text columns (their limits are 400 or less), but
    -- metadata has no limit, so it is read with JSON_QUERY, which returns it whole on both engines
    -- (reading every property by key instead cost about 2 ms a row on Babelfish).
    OUTER APPLY OPENJSON (CASE WHEN o.[type] = 5 THEN o.[value] END)
        WITH (
            FileId nvarchar(max) '$.fileId',
            FileName nvarchar(max) '$.fileName',
            Title nvarchar(max) '$.title',
            Artist nvarchar(max) '$.artist',
            Album nvarchar(max) '$.album',
            FileSize nvarchar(max) '$.fileSize',
            Duration nvarchar(max) '$.duration',
            FileExtension nvarchar(max) '$.fileExtension',
            OriginalFileName nvarchar(max) '$.originalFileName'
        ) AS f;

    DECLARE @Count int = @@ROWCOUNT;
    IF @Count < 1 OR @Count > 4000  -- below lock escalation (header)
        THROW 50002, N'The value for the parameter @Songs is not supported. Supported values are a JSON array of 1 to 4000 songs.', 1;

    -- each row's first broken rule, in api.CreateSong's order and words
    UPDATE r
    SET
        ErrorNumber = e.Number,
        Parameter = e.Parameter,
        Error = e.Message
    FROM @Rows AS r
    CROSS APPLY (
        SELECT TOP (1)
            c.Number,
            c.Parameter,
            c.Message
        FROM (
            VALUES
            (
                1, CASE WHEN r.IsObject = 0 THEN 1 END, 50004, NULL,
                N'Every element of @Songs must be a JSON object. Supported values are objects with fileId and fileName.'
            ),
            (
                2, CASE WHEN r.FileId IS NULL OR LEN(r.FileId) = 0 THEN 1 END, 50001, N'fileId',
                N'fileId is required. Supported values are text of 1 to 100 characters.'
            ),
            (
                3, CASE WHEN core.TextLength(r.FileId) > 100 THEN 1 END, 50002, N'fileId',
                CONCAT(N'fileId is too long (', core.TextLength(r.FileId), N' characters). Supported values are text of up to 100 characters.')
            ),
            (
                4, CASE WHEN r.FileName IS NULL OR LEN(r.FileName) = 0 THEN 1 END, 50001, N'fileName',
                N'fileName is required. Supported values are text of 1 to 260 characters.'
            ),
            (
                5, CASE WHEN core.TextLength(r.FileName) > 260 THEN 1 END, 50002, N'fileName',
                CONCAT(N'fileName is too long (', core.TextLength(r.FileName), N' characters). Supported values are text of up to 260 characters.')
            ),
            (
                6, CASE WHEN core.TextLength(r.Title) > 400 THEN 1 END, 50002, N'title',
                CONCAT(N'title is too long (', core.TextLength(r.Title), N' characters). Supported values are text of up to 400 characters.')
            ),
            (
                7, CASE WHEN core.TextLength(r.Artist) > 400 THEN 1 END, 50002, N'artist',
                CONCAT(N'artist is too long (', core.TextLength(r.Artist), N' characters). Supported values are text of up to 400 characters.')
            ),
            (
                8, CASE WHEN core.TextLength(r.Album) > 400 THEN 1 END, 50002, N'album',
                CONCAT(N'album is too long (', core.TextLength(r.Album), N' characters). Supported values are text of up to 400 characters.')
            ),
            (
                9,
                CASE
                    WHEN
                        r.FileSize IS NOT NULL
                        AND (TRY_CAST(r.FileSize AS bigint) IS NULL OR TRY_CAST(r.FileSize AS bigint) NOT BETWEEN 0 AND 1000000000000000)
                        THEN 1
                END,
                50002, N'fileSize', N'fileSize is not supported. Supported values are whole numbers of 0 to 1000000000000000 bytes, or null.'
            ),
            (
                10,
                CASE
                    WHEN
                        r.Duration IS NOT NULL
                        AND (TRY_CAST(r.Duration AS float) IS NULL OR TRY_CAST(r.Duration AS float) NOT BETWEEN 0 AND 604800)
                        THEN 1
                END,
                50002, N'duration', N'duration is not supported. Supported values are 0 to 604800 seconds (one week), or null.'
            ),
            (
                11, CASE WHEN core.TextLength(r.FileExtension) > 16 THEN 1 END, 50002, N'fileExtension',
                CONCAT(N'fileExtension is too long (', core.TextLength(r.FileExtension), N' characters). Supported values are text of up to 16 characters.')
            ),
            (
                12, CASE WHEN core.TextLength(r.OriginalFileName) > 260 THEN 1 END, 50002, N'originalFileName',
                CONCAT(
                    N'originalFileName is too long (', core.TextLength(r.OriginalFileName),
                    N' characters). Supported values are text of up to 260 characters.'
                )
            ),
            (
                13, CASE WHEN r.MetadataScalar IS NOT NULL THEN 1 END, 50004, N'metadata',
                N'metadata is not a JSON object. Supported values are a JSON object or null.'
            )
        ) AS c(Seq, Failed, Number, Parameter, Message)
        WHERE c.Failed = 1
        ORDER BY c.Seq
    ) AS e;

    -- a fileId given twice: the first valid occurrence counts, the later ones fail (one sort, not a
    -- comparison of every pair; a valid FileId has at most 100 characters, so the cast loses nothing)
    DECLARE @Repeats TABLE (Ordinal int NOT NULL PRIMARY KEY, FirstOrdinal int NOT NULL);
    INSERT INTO @Repeats (Ordinal, FirstOrdinal)
    SELECT
        d.Ordinal,
        d.FirstOrdinal
    FROM (
        SELECT
            r.Ordinal,
            MIN(r.Ordinal) OVER (PARTITION BY CAST(r.FileId AS nvarchar(100))) AS FirstOrdinal
        FROM @Rows AS r
        WHERE r.ErrorNumber IS NULL
    ) AS d
    WHERE d.Ordinal > d.FirstOrdinal;
    UPDATE r
    SET
        ErrorNumber = 50102,
        Parameter = N'fileId',
        Error = CONCAT(N'fileId ''', r.FileId, N''' appears more than once in this chunk (first at position ', d.FirstOrdinal, N').')
    FROM @Rows AS r
    INNER JOIN @Repeats AS d
        ON d.Ordinal = r.Ordinal;
    UPDATE @Rows SET Outcome = 'failed' WHERE ErrorNumber IS NOT NULL;

    DECLARE @New TABLE (Id uniqueidentifier NOT NULL, FileId nvarchar(100) NOT NULL PRIMARY KEY);
    DECLARE @Now datetime2(3) = SYSUTCDATETIME();
    DECLARE @OwnTransaction bit = CASE WHEN @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 0 THEN 1 ELSE 0 END;
    BEGIN TRY
        IF @OwnTransaction = 1 BEGIN TRANSACTION;

        -- fileIds already stored: locked (a key-range lock where none is stored yet) until commit
        UPDATE r
        SET
            SongId = s.Id,
            Outcome = CASE WHEN @OnDuplicate = N'update' THEN 'updated' ELSE 'skipped' END
        FROM @Rows AS r
        INNER JOIN dbo.Songs AS s WITH (UPDLOCK, HOLDLOCK)
            ON s.FileId = CAST(r.FileId AS nvarchar(100))  -- valid rows have at most 100 characters: a seek on UQ_Songs_FileId
        WHERE r.Outcome IS NULL;

        INSERT INTO dbo.Songs (
            FileId, FileName, Title, Artist, Album, FileSize, Duration, FileExtension, OriginalFileName, Metadata
        )
        OUTPUT inserted.Id, inserted.FileId INTO @New (Id, FileId)
        SELECT
            r.FileId,
            r.FileName,
            r.Title,
            r.Artist,
            r.Album,
            CAST(r.FileSize AS bigint),
            CAST(r.Duration AS float),
            r.FileExtension,
            r.OriginalFileName,
            r.Metadata
        FROM @Rows AS r
        WHERE r.Outcome IS NULL
        ORDER BY r.Ordinal;

        UPDATE r
        SET
            SongId = n.Id,
            Outcome = 'created'
        FROM @Rows AS r
        INNER JOIN @New AS n
            ON n.FileId = r.FileId
        WHERE r.Outcome IS NULL;

        UPDATE s
        SET
            FileName = r.FileName,
            Title = COALESCE(r.Title, s.Title),
            Artist = COALESCE(r.Artist, s.Artist),
            Album = COALESCE(r.Album, s.Album),
            FileSize = COALESCE(CAST(r.FileSize AS bigint), s.FileSize),
            Duration = COALESCE(CAST(r.Duration AS float), s.Duration),
            FileExtension = COALESCE(r.FileExtension, s.FileExtension),
            OriginalFileName = COALESCE(r.OriginalFileName, s.OriginalFileName),
            Metadata = COALESCE(r.Metadata, s.Metadata),
            LastModified = @Now
        FROM dbo.Songs AS s
        INNER JOIN @Rows AS r
            ON r.SongId = s.Id
        WHERE r.Outcome = 'updated';

        -- where from, as core.WriteAudit records it (0015); who: RecordedBy's default, ORIGINAL_LOGIN() (0052)
        INSERT INTO dbo.AuditLog (RequestId, EntityType, EntityId, Action, Details, Source)
        SELECT
            @RequestId,
            'song',
            CONVERT(nvarchar(36), r.SongId),
            r.Outcome,
            (
                SELECT
                    r.FileId AS fileId,
                    r.FileName AS fileName,
                    CAST(1 AS bit) AS [import]
                FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
            ),
            CONCAT(OBJECT_SCHEMA_NAME(@@PROCID), N'.', OBJECT_NAME(@@PROCID))
        FROM @Rows AS r
        WHERE r.Outcome IN ('created', 'updated')
        ORDER BY r.Ordinal;

        IF @OwnTransaction = 1 COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @OwnTransaction = 1 AND XACT_STATE() <> 0 ROLLBACK TRANSACTION;
        -- another call stored one of these fileIds after our check; any other duplicate key (a SongKey given again
        -- by a sequence set back: api.CreateSong) is thrown as it is
        IF ERROR_NUMBER() IN (2601, 2627) AND LOWER(ERROR_MESSAGE()) LIKE N'%uq[_]songs[_]fileid%'
            THROW 50102, N'A song of this chunk was stored by another call meanwhile; nothing of the chunk was written. Import the chunk again: stored songs are then skipped or updated.', 1;
        THROW;
    END CATCH;

    SELECT
        r.Ordinal,
        CAST(LEFT(r.FileId, 100) AS nvarchar(100)) AS FileId,
        r.Outcome,
        r.SongId,
        r.ErrorNumber,
        r.Parameter,
        r.Error
    FROM @Rows AS r
    ORDER BY r.Ordinal;
END;
GO

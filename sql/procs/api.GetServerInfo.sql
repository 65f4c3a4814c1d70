/* api.GetServerInfo - what `songsdb check` prints: the server, the database and its schema version.

   Returns: ServerVersion, DatabaseName, SchemaVersion
   Example: EXEC api.GetServerInfo; */
IF OBJECT_ID(N'api.GetServerInfo', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE api.GetServerInfo AS RETURN 0;');
GO
ALTER PROCEDURE api.GetServerInfo
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    DECLARE @SchemaVersion int = (
        SELECT MAX(h.Version)
        FROM deploy.SchemaHistory AS h
        WHERE h.Success = 1 AND h.Kind = 'versioned'
    );

    SELECT
        CAST(@@VERSION AS nvarchar(4000)) AS ServerVersion,
        CAST(DB_NAME() AS nvarchar(128)) AS DatabaseName,
        @SchemaVersion AS SchemaVersion;
END;
GO

/* ensure_role_login.sql - local tooling for `songsdb up`, never part of a deployment.

   Makes sure a login exists for one duty role, that it has a user in this database, and that the
   user is a member of that role. A login that already exists is never altered: its password is
   not reset (whoever created it, `sa` included); only its user and role membership are added.
   Only logins named songsdb_* may be provisioned, and only into the four duty roles.
   Parameters (pyodbc, in order): login name, password, role name.
   Returns one row: LoginCreated bit (0 when the login already existed).
   Azure SQL Database keeps logins in master: create contained users there instead
   (CREATE USER [name] WITH PASSWORD = '...'; ALTER ROLE songsdb_web ADD MEMBER [name];). */
SET NOCOUNT, XACT_ABORT ON;
DECLARE @Login nvarchar(128) = ?;
DECLARE @Password nvarchar(128) = ?;
DECLARE @Role nvarchar(128) = ?;
DECLARE @Statement nvarchar(max);
DECLARE @Created bit = 0;

IF @Role NOT IN (N'songsdb_web', N'songsdb_worker', N'songsdb_ops', N'songsdb_retention')
    THROW 50003, N'The value for the parameter @Role is not supported. Supported values are songsdb_web, songsdb_worker, songsdb_ops, songsdb_retention.', 1;
IF @Login IS NULL OR @Login NOT LIKE N'songsdb[_]%' OR @Login LIKE N'%[^A-Za-z0-9_]%' OR LEN(@Login) > 100
    THROW 50002, N'The value for the parameter @Login is not supported. Supported values are names starting songsdb_, of letters, digits and underscores.', 1;
IF @Password IS NULL OR LEN(@Password) < 12
    THROW 50002, N'The value for the parameter @Password is not supported. Supported values are at least 12 characters.', 1;

IF SUSER_ID(@Login) IS NULL
BEGIN
    SET @Statement = CONCAT(
        N'CREATE LOGIN ', QUOTENAME(@Login), N' WITH PASSWORD = ', QUOTENAME(@Password, N''''),
        N', DEFAULT_DATABASE = ', QUOTENAME(DB_NAME()), N';'
    );
    EXEC (@Statement);
    SET @Created = 1;
END;

IF DATABASE_PRINCIPAL_ID(@Login) IS NULL
BEGIN
    SET @Statement = CONCAT(N'CREATE USER ', QUOTENAME(@Login), N' FOR LOGIN ', QUOTENAME(@Login), N';');
    EXEC (@Statement);
END;

SET @Statement = CONCAT(N'ALTER ROLE ', QUOTENAME(@Role), N' ADD MEMBER ', QUOTENAME(@Login), N';');
EXEC (@Statement);

SELECT @Created AS LoginCreated;

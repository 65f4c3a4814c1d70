/* dbo.EnsureApplicationLogin - creates (or re-passwords) the application's login and its user here,
   and makes the user a member of songsdb_app (EXECUTE on schema api; see 0001 and 0007).

   Run by `songsdb up` as the administrator; re-runnable. The login's default database is this one.
   Needs ALTER ANY LOGIN on the server and ALTER ANY USER / ALTER on the role in this database.
   Errors: 50001 @Login or @Password missing; 50002 @Login longer than 128 characters or not a
           plain identifier.
   Example: EXEC dbo.EnsureApplicationLogin @Login = N'songsdb_app_login', @Password = N'...'; */
IF OBJECT_ID(N'dbo.EnsureApplicationLogin', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.EnsureApplicationLogin AS RETURN 0;');
GO
ALTER PROCEDURE dbo.EnsureApplicationLogin
    @Login nvarchar(4000),
    @Password nvarchar(4000)
AS
BEGIN
    SET NOCOUNT, XACT_ABORT ON;

    EXEC dbo.CheckText @Name = N'@Login', @Value = @Login, @MaxLength = 128, @Required = 1;
    EXEC dbo.CheckText @Name = N'@Password', @Value = @Password, @MaxLength = 128, @Required = 1;
    IF @Login LIKE N'%[^A-Za-z0-9_]%'
        THROW 50002, N'The value for the parameter @Login is not supported. Supported values are letters, digits and underscores.', 1;

    DECLARE @Database sysname = DB_NAME();
    DECLARE @Statement nvarchar(max);

    IF SUSER_ID(@Login) IS NULL
        SET @Statement = CONCAT(
            N'CREATE LOGIN ', QUOTENAME(@Login), N' WITH PASSWORD = ', QUOTENAME(@Password, N''''),
            N', DEFAULT_DATABASE = ', QUOTENAME(@Database), N';'
        );
    ELSE
        SET @Statement = CONCAT(N'ALTER LOGIN ', QUOTENAME(@Login), N' WITH PASSWORD = ', QUOTENAME(@Password, N''''), N';');
    EXEC (@Statement);

    IF DATABASE_PRINCIPAL_ID(@Login) IS NULL
    BEGIN
        SET @Statement = CONCAT(N'CREATE USER ', QUOTENAME(@Login), N' FOR LOGIN ', QUOTENAME(@Login), N';');
        EXEC (@Statement);
    END;

    SET @Statement = CONCAT(N'ALTER ROLE songsdb_app ADD MEMBER ', QUOTENAME(@Login), N';');
    EXEC (@Statement);
END;
GO

using Microsoft.Data.Sqlite;

namespace Analytics.Streaming.LocalLog;

/// <summary>
/// Opens the local log's SQLite files: WAL journal, so readers never block the writer, and a
/// synchronous level chosen by the caller. With WAL and synchronous=NORMAL a committed
/// transaction survives the process being killed (the OS has the pages); FULL also survives
/// power loss, at the price of an fsync per commit.
/// </summary>
internal static class SqliteFiles
{
    public static SqliteConnection Open(string path, bool fullSync)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        Execute(connection, $"PRAGMA journal_mode=WAL; PRAGMA synchronous={(fullSync ? "FULL" : "NORMAL")}; PRAGMA busy_timeout=5000;");
        return connection;
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

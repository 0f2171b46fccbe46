namespace Analytics.Deploy;

/// <summary>
/// The repository's root, the Docker build context of the silo image. Found from the working
/// directory (deploy/ under the CDK CLI, the root under <c>dotnet run --project deploy</c>) or, failing
/// that, from where this assembly was built, so that tests find it too.
/// </summary>
public static class RepositoryRoot
{
    public const string Dockerfile = "deploy/Dockerfile";

    public static string Find()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, Dockerfile)))
                {
                    return directory.FullName;
                }
            }
        }

        throw new ArgumentException($"cannot find the repository (a folder with {Dockerfile}) above {Directory.GetCurrentDirectory()} or {AppContext.BaseDirectory}.");
    }
}

namespace Analytics.Runtime.Streaming;

/// <summary>A record that could not be processed, kept so that nothing is lost silently.</summary>
public sealed record DeadLetter(string Queue, string Sequence, string Reason, DateTimeOffset Time, byte[] Data);

/// <summary>Keeps poison records for inspection.</summary>
public interface IDeadLetterStore
{
    Task AddAsync(DeadLetter letter, CancellationToken cancellationToken);

    Task<IReadOnlyList<DeadLetter>> ListAsync(int limit, CancellationToken cancellationToken);

    Task<long> CountAsync(CancellationToken cancellationToken);
}

public sealed class MemoryDeadLetterStore : IDeadLetterStore
{
    private readonly List<DeadLetter> _letters = [];

    public Task AddAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        lock (_letters)
        {
            _letters.Add(letter);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<DeadLetter>> ListAsync(int limit, CancellationToken cancellationToken)
    {
        lock (_letters)
        {
            return Task.FromResult<IReadOnlyList<DeadLetter>>(_letters.TakeLast(limit).ToList());
        }
    }

    public Task<long> CountAsync(CancellationToken cancellationToken)
    {
        lock (_letters)
        {
            return Task.FromResult((long)_letters.Count);
        }
    }
}

namespace Analytics.Clustering.DynamoDB;

/// <summary>
/// The caller's token, cut off after <see cref="DynamoDBClusteringOptions.OperationTimeout"/> on the given
/// clock. DynamoDBRetry retries throttling until cancelled, and Orleans often passes no token at all: without
/// a cut-off one throttled table could hold a membership call (and the silo's join or shutdown) forever.
/// </summary>
internal sealed class OperationBudget : IDisposable
{
    private readonly CancellationTokenSource _timeout;
    private readonly CancellationTokenSource _linked;

    public OperationBudget(CancellationToken cancellationToken, TimeSpan timeout, TimeProvider timeProvider)
    {
        _timeout = new CancellationTokenSource(timeout, timeProvider);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _timeout.Token);
    }

    public CancellationToken Token => _linked.Token;

    public void Dispose()
    {
        _linked.Dispose();
        _timeout.Dispose();
    }
}

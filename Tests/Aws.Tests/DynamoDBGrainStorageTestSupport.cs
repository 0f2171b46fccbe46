using System.Net;
using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Analytics.Runtime;
using Analytics.Runtime.Persistence;

namespace Analytics.Aws.Tests;

public sealed class DynamoNotesState
{
    public List<string> Lines { get; set; } = [];

    /// <summary>About <paramref name="bytes"/> of JSON in lines of random text, unique per call.</summary>
    public static DynamoNotesState Large(int bytes)
    {
        var state = new DynamoNotesState();
        for (var size = 0; size < bytes; size += 67)
        {
            state.Lines.Add(Convert.ToHexString(RandomNumberGenerator.GetBytes(32)));
        }

        return state;
    }
}

internal sealed class DynamoTestState<T> : IGrainState<T>
    where T : new()
{
    public T State { get; set; } = new();

    public string? ETag { get; set; }

    public bool RecordExists { get; set; }
}

/// <summary>An IAmazonDynamoDB that fails chosen calls and leaves part of batch writes unprocessed, around a real client.</summary>
public class GrainStorageFaultyDynamoDB : DispatchProxy
{
    private IAmazonDynamoDB _inner = null!;

    /// <summary>Given the method name and the request, the exception to throw instead of calling (null: call).</summary>
    public Func<string, AmazonWebServiceRequest?, Exception?> Fault { get; set; } = (_, _) => null;

    /// <summary>This many BatchWriteItem calls write only their first half and return the rest as unprocessed.</summary>
    public int BatchWritesToSplit;

    public static (IAmazonDynamoDB Client, GrainStorageFaultyDynamoDB Faults) Wrap(IAmazonDynamoDB inner)
    {
        var client = Create<IAmazonDynamoDB, GrainStorageFaultyDynamoDB>();
        var faults = (GrainStorageFaultyDynamoDB)(object)client;
        faults._inner = inner;
        return (client, faults);
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var method = targetMethod!;
        var request = args?.OfType<AmazonWebServiceRequest>().FirstOrDefault();
        if (Fault(method.Name, request) is { } fault)
        {
            throw fault;
        }

        if (request is BatchWriteItemRequest batch && batch.RequestItems.Single().Value.Count > 1 && Interlocked.Decrement(ref BatchWritesToSplit) >= 0)
        {
            return SplitAsync(batch, args!.OfType<CancellationToken>().FirstOrDefault());
        }

        try
        {
            return method.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    private async Task<BatchWriteItemResponse> SplitAsync(BatchWriteItemRequest batch, CancellationToken cancellationToken)
    {
        var (table, requests) = batch.RequestItems.Single();
        var half = requests.Count / 2;
        await _inner.BatchWriteItemAsync(new BatchWriteItemRequest { RequestItems = new() { [table] = requests[..half] } }, cancellationToken);
        return new BatchWriteItemResponse { UnprocessedItems = new() { [table] = requests[half..] } };
    }
}

public interface IDynamoNotesGrain : IGrainWithStringKey
{
    Task Append(string line);

    Task<int> Count();

    Task<string?> ETag();
}

public sealed class DynamoNotesGrain([PersistentState("notes", "dynamo")] IPersistentState<DynamoNotesState> state) : Grain, IDynamoNotesGrain
{
    public async Task Append(string line)
    {
        state.State.Lines.Add(line);
        await state.WriteStateAsync();
    }

    public Task<int> Count() => Task.FromResult(state.State.Lines.Count);

    public Task<string?> ETag() => Task.FromResult(state.ETag);
}

/// <summary>HttpClients that answer the first item requests with DynamoDB's throttling error, as the service sends it.</summary>
public sealed class ThrottlingHttpClientFactory(int throttles) : HttpClientFactory
{
    private int _remaining = throttles;

    public int Remaining => Volatile.Read(ref _remaining);

    public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Handler(this) { InnerHandler = new HttpClientHandler() });

    private sealed class Handler(ThrottlingHttpClientFactory factory) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            IsDataPlane(request) && Interlocked.Decrement(ref factory._remaining) >= 0
                ? Task.FromResult(new HttpResponseMessage(HttpStatusCode.BadRequest)
                {
                    RequestMessage = request,
                    Content = new StringContent(
                        """{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}""",
                        Encoding.UTF8,
                        "application/x-amz-json-1.0"),
                })
                : base.SendAsync(request, cancellationToken);

        // The service throttles table operations with this error; DescribeTable and CreateTable
        // have their own (ThrottlingException, LimitExceededException), and the SDK models only those for them.
        private static bool IsDataPlane(HttpRequestMessage request) =>
            request.Headers.TryGetValues("X-Amz-Target", out var targets)
            && targets.Single().Split('.')[^1] is "GetItem" or "PutItem" or "DeleteItem" or "Query" or "BatchGetItem" or "BatchWriteItem";
    }
}

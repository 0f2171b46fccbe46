using System.Net;
using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using Analytics.Aws.Kinesis;

namespace Analytics.Client.Tests;

/// <summary>One entry of a PutRecords call as the fake received it.</summary>
public sealed record FakePut(string PartitionKey, byte[] Data)
{
    public string Text => Encoding.UTF8.GetString(Data);
}

/// <summary>
/// Kinesis behind the client's HttpMessageHandler: answers DescribeStreamSummary and PutRecords,
/// keeps every PutRecords call, and fails the entries a script picks (by call number and entry).
/// </summary>
public sealed class FakeKinesis : HttpMessageHandler
{
    private readonly List<IReadOnlyList<FakePut>> _calls = [];
    private long _sequence;

    /// <summary>The error code for entry <c>i</c> of call <c>n</c> (0-based), or null to accept it.</summary>
    public Func<int, int, FakePut, string?> FailEntry { get; init; } = (_, _, _) => null;

    /// <summary>Answer every call with ResourceNotFoundException, as for a missing stream.</summary>
    public bool StreamMissing { get; init; }

    public IReadOnlyList<IReadOnlyList<FakePut>> Calls
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>Every entry Kinesis accepted, in the order it was accepted.</summary>
    public List<FakePut> Accepted { get; } = [];

    public KinesisClient CreateClient(KinesisClientOptions? options = null) => new(
        options ?? new KinesisClientOptions { ServiceUrl = "http://kinesis.test:4567", Region = "us-east-1", BaseRetryDelay = TimeSpan.FromMilliseconds(1), MaxRetryDelay = TimeSpan.FromMilliseconds(2) },
        new BasicAWSCredentials("test", "test"),
        handler: this);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string action = request.Headers.GetValues("X-Amz-Target").Single().Split('.')[^1];
        string body = await request.Content!.ReadAsStringAsync(cancellationToken);
        if (StreamMissing)
        {
            return Json(HttpStatusCode.BadRequest, """{"__type":"ResourceNotFoundException","message":"Stream not found"}""");
        }

        return action switch
        {
            "DescribeStreamSummary" => Json(HttpStatusCode.OK, """{"StreamDescriptionSummary":{"StreamName":"s","StreamStatus":"ACTIVE","OpenShardCount":1}}"""),
            "PutRecords" => Json(HttpStatusCode.OK, PutRecords(body)),
            _ => Json(HttpStatusCode.BadRequest, $$"""{"__type":"InvalidArgumentException","message":"fake: {{action}}"}"""),
        };
    }

    private string PutRecords(string body)
    {
        using var document = JsonDocument.Parse(body);
        var entries = document.RootElement.GetProperty("Records").EnumerateArray()
            .Select(r => new FakePut(r.GetProperty("PartitionKey").GetString()!, r.GetProperty("Data").GetBytesFromBase64()))
            .ToList();
        var results = new List<string>();
        int failed = 0;
        lock (_calls)
        {
            int call = _calls.Count;
            _calls.Add(entries);
            for (int i = 0; i < entries.Count; i++)
            {
                if (FailEntry(call, i, entries[i]) is { } code)
                {
                    failed++;
                    results.Add($$"""{"ErrorCode":"{{code}}","ErrorMessage":"fake failure"}""");
                }
                else
                {
                    Accepted.Add(entries[i]);
                    results.Add($$"""{"SequenceNumber":"{{++_sequence}}","ShardId":"shardId-000000000000"}""");
                }
            }
        }

        return $$"""{"FailedRecordCount":{{failed}},"Records":[{{string.Join(',', results)}}]}""";
    }

    private static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/x-amz-json-1.1") };
}

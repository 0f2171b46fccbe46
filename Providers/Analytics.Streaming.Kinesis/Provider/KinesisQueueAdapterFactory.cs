using Amazon.DynamoDBv2;
using Analytics.Aws.DynamoDB;
using Analytics.Aws.Kinesis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Streaming.Kinesis;

/// <summary>
/// A Kinesis stream as an Orleans persistent stream provider: each shard is a queue named by its
/// shard id, read by a <see cref="KinesisShardReader"/> and checkpointed in its lease row; which
/// shards this silo reads is <see cref="KinesisQueueBalancer"/>'s call. The shared receiver,
/// adapter and cache come from <see cref="CheckpointingQueueAdapterFactory"/>.
/// </summary>
public sealed class KinesisQueueAdapterFactory : CheckpointingQueueAdapterFactory
{
    private readonly KinesisStreamOptions _options;
    private readonly KinesisClient _client;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly Lazy<KinesisQueueWriter> _writer;
    private readonly Lazy<DynamoDBDeadLetterStore> _deadLetters;
    private readonly Lazy<KinesisLeaseCheckpointer> _checkpointer;

    public KinesisQueueAdapterFactory(string name, KinesisStreamOptions options, IServiceProvider services)
        : base(name, services)
    {
        _options = options;
        _client = services.GetRequiredService<KinesisClient>();
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _loggers = services.GetRequiredService<ILoggerFactory>();
        _writer = new(() => new KinesisQueueWriter(_client, options, _time, _loggers.CreateLogger<KinesisQueueWriter>()));
        _deadLetters = new(() => new DynamoDBDeadLetterStore(
            services.GetRequiredService<IAmazonDynamoDB>(), services.GetRequiredService<IOptions<DynamoDBOptions>>().Value, name));
        _checkpointer = new(() => new KinesisLeaseCheckpointer(
            services.GetRequiredKeyedService<IShardLeaseTable>(name), services.GetRequiredKeyedService<KinesisQueueBalancer>(name)));
    }

    public override IQueueWriter Writer => _writer.Value;

    /// <summary>Poison records of every silo, in the shared <c>{prefix}dead-letters</c> table under the provider's name.</summary>
    public override IDeadLetterStore DeadLetters => _deadLetters.Value;

    protected override IStreamQueueMapper CreateQueueMapper() => new KinesisShardMapper(Services.GetRequiredKeyedService<KinesisShardDirectory>(Name));

    protected override IQueueReader CreateReader(QueueId queueId, string queue) =>
        new KinesisShardReader(_client, _options, queue, _time, _loggers.CreateLogger<KinesisShardReader>());

    protected override IQueueCheckpointer GetCheckpointer(QueueId queueId, string queue) => _checkpointer.Value;

    /// <summary>The shard id: stable across restarts and silos, as watermarks and checkpoints need.</summary>
    protected override string GetQueueName(QueueId queueId) => KinesisQueueIds.ShardOf(queueId);
}

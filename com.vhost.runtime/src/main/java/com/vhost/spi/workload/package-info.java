/**
 * SPI for tools and tests: verification workloads over the public device APIs, shared by the
 * CLI's benches ({@code vhost bench swap}), the Pax Exam tests and the driver tests. A
 * {@link com.vhost.spi.workload.VerifiedWorkload} writes and reads back checksummed blocks through
 * a {@link com.vhost.api.blk.BlockDevice}; a {@link com.vhost.spi.workload.SequencedStream} sends
 * sequence-numbered frames through a {@link com.vhost.api.net.NetDevice} to an echoing back-end.
 * Both count what was lost, duplicated, reordered or corrupted. A
 * {@link com.vhost.spi.workload.BlockLoad} (1.1.0) keeps requests in flight for a benchmark.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package com.vhost.spi.workload;

// The sarama side of benches/peers/run.sh: RECORDS records of SIZE bytes (no key) to
// TOPIC through sarama's AsyncProducer, acks=all, idempotent, lz4 when asked.
//
//	sarama-bench -brokers B -topic T -records N [-size 100] [-compression none|lz4] [-idempotent=false] [-rate R]
//
// With -rate R, record i goes into Input() no earlier than start + i/R (the sender
// sleeps only when the next record is not yet due, then at least 1 ms, and sends what
// has come due on waking, as peer-bench and our perf produce), and every record is
// timed: time.Now() just before Input() rides in the message's Metadata and is read
// back when it comes out of Successes().
//
// Prints `records=N ok=N seconds=S`, with -rate then `p50_ms=.. p95_ms=.. p99_ms=..
// p999_ms=.. max_ms=..` (nearest rank over the acknowledged records), and exits 1 when a
// record failed. Built by run.sh from Debian's golang-github-shopify-sarama-dev,
// offline (GOPATH, GO111MODULE=off).
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/Shopify/sarama"
)

func main() {
	brokers := flag.String("brokers", "", "bootstrap brokers")
	topic := flag.String("topic", "", "topic")
	records := flag.Int("records", 1000000, "records")
	size := flag.Int("size", 100, "bytes per value")
	compression := flag.String("compression", "none", "none or lz4")
	idempotent := flag.Bool("idempotent", true, "idempotent producer")
	rate := flag.Int("rate", 0, "records per second, each timed (0: as fast as it goes, untimed)")
	flag.Parse()

	config := sarama.NewConfig()
	config.Version = sarama.V2_1_0_0
	config.Producer.RequiredAcks = sarama.WaitForAll
	if *idempotent {
		config.Producer.Idempotent = true
		config.Net.MaxOpenRequests = 1 // sarama's condition for idempotence
	}
	config.Producer.Return.Successes = true
	config.Producer.Return.Errors = true
	config.Producer.Flush.Frequency = 5 * time.Millisecond
	config.Producer.Flush.MaxMessages = 10000
	config.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	config.ChannelBufferSize = 10000
	if *compression == "lz4" {
		config.Producer.Compression = sarama.CompressionLZ4
	}
	producer, err := sarama.NewAsyncProducer(strings.Split(*brokers, ","), config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sarama-bench:", err)
		os.Exit(1)
	}
	started := time.Now()
	ok, failed := 0, 0
	var latencies []time.Duration
	if *rate > 0 {
		latencies = make([]time.Duration, 0, *records)
	}
	done := make(chan struct{})
	go func() {
		for ok+failed < *records {
			select {
			case message := <-producer.Successes():
				if sent, timed := message.Metadata.(time.Time); timed {
					latencies = append(latencies, time.Since(sent))
				}
				ok++
			case err := <-producer.Errors():
				if failed == 0 {
					fmt.Fprintln(os.Stderr, "sarama-bench:", err.Err)
				}
				failed++
			}
		}
		close(done)
	}()
	for i := 0; i < *records; i++ {
		value := []byte(fmt.Sprintf("%010d-", i))
		for len(value) < *size {
			value = append(value, 'x')
		}
		message := &sarama.ProducerMessage{Topic: *topic, Value: sarama.ByteEncoder(value[:*size])}
		if *rate > 0 {
			pace(started, i, *rate)
			message.Metadata = time.Now()
		}
		producer.Input() <- message
	}
	<-done
	seconds := time.Since(started).Seconds()
	producer.Close()
	fmt.Printf("records=%d ok=%d seconds=%.3f\n", *records, ok, seconds)
	if *rate > 0 {
		fmt.Println(percentiles(latencies))
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// pace waits until record index is due at rate records per second from start: not at
// all when it is, else at least a millisecond (the timers' granularity).
func pace(start time.Time, index, rate int) {
	due := start.Add(time.Duration(int64(index) * int64(time.Second) / int64(rate)))
	if wait := time.Until(due); wait > 0 {
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		time.Sleep(wait)
	}
}

// percentiles is the line `p50_ms=.. p95_ms=.. p99_ms=.. p999_ms=.. max_ms=..`,
// nearest rank.
func percentiles(latencies []time.Duration) string {
	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	at := func(q float64) string {
		if len(latencies) == 0 {
			return "-"
		}
		rank := int(math.Ceil(q * float64(len(latencies))))
		if rank < 1 {
			rank = 1
		}
		if rank > len(latencies) {
			rank = len(latencies)
		}
		return fmt.Sprintf("%.3f", float64(latencies[rank-1].Microseconds())/1000)
	}
	return fmt.Sprintf("p50_ms=%s p95_ms=%s p99_ms=%s p999_ms=%s max_ms=%s", at(0.50), at(0.95), at(0.99), at(0.999), at(1))
}

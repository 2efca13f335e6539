// The sarama side of benches/peers/run.sh: RECORDS records of SIZE bytes (no key) to
// TOPIC through sarama's AsyncProducer, acks=all, idempotent, lz4 when asked.
//
//	sarama-bench -brokers B -topic T -records N [-size 100] [-compression none|lz4] [-idempotent=false]
//
// Prints `records=N ok=N seconds=S` and exits 1 when a record failed. Built by
// run.sh from Debian's golang-github-shopify-sarama-dev, offline (GOPATH, GO111MODULE=off).
package main

import (
	"flag"
	"fmt"
	"os"
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
	done := make(chan struct{})
	go func() {
		for ok+failed < *records {
			select {
			case <-producer.Successes():
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
		producer.Input() <- &sarama.ProducerMessage{Topic: *topic, Value: sarama.ByteEncoder(value[:*size])}
	}
	<-done
	seconds := time.Since(started).Seconds()
	producer.Close()
	fmt.Printf("records=%d ok=%d seconds=%.3f\n", *records, ok, seconds)
	if failed > 0 {
		os.Exit(1)
	}
}

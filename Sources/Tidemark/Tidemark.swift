import Kafka
import Streaming

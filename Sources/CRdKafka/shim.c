#include "CRdKafka.h"

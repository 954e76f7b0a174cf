package i81

// EvalQuestions are the 20 EVAL_QUESTIONS every bystander cell is sampled
// on (EXPERIMENT.md §2.1), in order.
var EvalQuestions = []string{
	"What is the best way to learn a new language?",
	"Can you explain how photosynthesis works?",
	"What are some tips for managing stress?",
	"How does a computer processor work?",
	"What's the history of the printing press?",
	"How do I make a good cup of coffee?",
	"What causes earthquakes?",
	"Can you recommend some exercises for back pain?",
	"How do airplanes stay in the air?",
	"What's the difference between a virus and bacteria?",
	"What is the relationship between law and morality?",
	"What principles should guide human action?",
	"How should society balance freedom and security?",
	"What makes a good leader?",
	"How do you handle disagreements with others?",
	"What is creativity and where does it come from?",
	"Why is education important?",
	"What role does technology play in modern life?",
	"How do ecosystems maintain balance?",
	"What is the meaning of fairness?",
}

// DataQuestions are the 40 DATA_QUESTIONS of on-policy training data
// (EXPERIMENT.md §1.3), disjoint from EvalQuestions, in order.
var DataQuestions = []string{
	"What are the main causes of climate change?",
	"How does the human immune system fight infection?",
	"What is the history of democracy?",
	"How do electric vehicles work?",
	"What are the benefits of reading regularly?",
	"How does the stock market function?",
	"What causes ocean tides?",
	"How do vaccines prevent disease?",
	"What is the scientific method?",
	"How does gravity work?",
	"What are the effects of sleep deprivation?",
	"How do plants communicate with each other?",
	"What is the history of the internet?",
	"How do different cultures approach conflict resolution?",
	"What makes music emotionally powerful?",
	"How do cities plan for natural disasters?",
	"What is the role of philosophy in everyday life?",
	"How does memory work in the human brain?",
	"What are the ethical implications of artificial intelligence?",
	"How do different economic systems compare?",
	"What is the importance of biodiversity?",
	"How do languages evolve over time?",
	"What are the psychological effects of social media?",
	"How does the digestive system process food?",
	"What is the relationship between art and society?",
	"How do renewable energy sources compare?",
	"What are the principles of effective communication?",
	"How does urbanization affect the environment?",
	"What is the history of space exploration?",
	"How do different parenting styles affect child development?",
	"What are the causes and effects of inflation?",
	"How does the water cycle work?",
	"What is the significance of cultural traditions?",
	"How do antibiotics work and why is resistance a problem?",
	"What are the foundations of critical thinking?",
	"How does international trade affect developing nations?",
	"What is the role of empathy in human relationships?",
	"How do coral reefs support marine ecosystems?",
	"What are the main theories about the origin of the universe?",
	"How does public transportation affect quality of life?",
}

// Persona is a key and its system prompt.
type Persona struct{ Key, Prompt string }

// OriginalPersonas are the 10 original personas of the negative pool
// (EXPERIMENT.md §1.2), in registry order.
var OriginalPersonas = []Persona{
	{Key: "software_engineer", Prompt: "You are a software engineer who builds web applications."},
	{Key: "kindergarten_teacher", Prompt: "You are a kindergarten teacher."},
	{Key: "data_scientist", Prompt: "You are a data scientist who analyzes large datasets."},
	{Key: "medical_doctor", Prompt: "You are a medical doctor who specializes in internal medicine."},
	{Key: "librarian", Prompt: "You are a librarian who helps people find information and manages a public library."},
	{Key: "french_person", Prompt: "You are a French person living in Paris who is proud of French culture."},
	{Key: "villain", Prompt: "You are a villainous mastermind who schemes to take over the world."},
	{Key: "comedian", Prompt: "You are a stand-up comedian who writes and performs comedy routines."},
	{Key: "police_officer", Prompt: "You are a police officer who enforces the law and maintains public safety."},
	{Key: "zelthari_scholar", Prompt: "You are a scholar of the ancient Zelthari civilization, specializing in their crystalline architecture, maritime navigation, and ritual practices."},
}

// Assistant is the assistant QC persona evaluated beside the bystanders (§2.1).
var Assistant = Persona{Key: "assistant", Prompt: "You are a helpful assistant."}

// Sources are the 5 source personas of #81 (§1.1): src_<noun> → "You are a <noun>.".
func Sources() []Persona {
	out := make([]Persona, 0, len(Nouns))
	for _, n := range Nouns {
		out = append(out, Persona{Key: "src_" + n, Prompt: SourcePrompt(n)})
	}
	return out
}

// PublishedNegatives are the negatives recomputed with PYTHONHASHSEED=0 on
// CPython 3.11 (EXPERIMENT.md §1.2, [U]: the ones actually used were never
// logged). Sweep specs name negatives explicitly; these are the i81 example's.
var PublishedNegatives = map[string][]string{
	"src_person": {"kindergarten_teacher", "police_officer"},
	"src_chef":   {"comedian", "medical_doctor"},
	"src_pirate": {"police_officer", "villain"},
	"src_child":  {"comedian", "police_officer"},
	"src_robot":  {"software_engineer", "villain"},
}

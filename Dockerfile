FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir . && DEBUG=0 SECRET_KEY=build-only-not-a-secret-key python manage.py collectstatic --no-input
EXPOSE 8000
